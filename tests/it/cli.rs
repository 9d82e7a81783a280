//! End to end: the real `hitl` binary, a running daemon, a real temporary
//! vault and state folder, real inotify, real handler processes.

use super::util;

use std::time::Duration;

use util::{Env, me, wait_for};

const PAYMENT: &str = r#"{"amount":1500,"recipient":"vendor@example.com","currency":"USD"}"#;

// 1. init and built-in defaults

#[test]
fn init_creates_folders_config_and_base() {
    let env = Env::new("");
    let config = env.dir.path().join("new-config.yaml");
    let (code, out, err) = env.hitl(&["init", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("vault ready"));
    for f in ["Pending_Approval", "Approved", "Rejected", "Done"] {
        assert!(env.folder(f).is_dir(), "{f}");
    }
    assert!(
        std::fs::read_to_string(env.vault.join("Approvals.base"))
            .unwrap()
            .contains("approval_request")
    );
    let written = std::fs::read_to_string(&config).unwrap();
    let example = include_str!("../../config/hitl.example.yaml");
    let vault_line = format!("vault: {}", env.vault.display());
    assert_eq!(
        written,
        example.replacen("# vault: ~/Obsidian/MyVault", &vault_line, 1)
    );
}

#[test]
fn run_needs_no_config_file() {
    let env = Env::new("");
    let mut daemon = env
        .cmd()
        .env_remove("HITL_CONFIG")
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = |e: &Env| {
        e.cmd()
            .env_remove("HITL_CONFIG")
            .arg("status")
            .output()
            .unwrap()
            .status
            .code()
    };
    wait_for("daemon up", || status(&env) == Some(0));
    let out = env
        .cmd()
        .env_remove("HITL_CONFIG")
        .args(["request", "payment", "--payload", PAYMENT])
        .output()
        .unwrap();
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let note = env.wait_note(&id, "Pending_Approval", "pending");
    assert!(
        note.contains("rule `large-payment`"),
        "built-in rules apply:\n{note}"
    );
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    assert!(daemon.wait().unwrap().success());
}

// 2. submit and explain

#[test]
fn request_writes_a_pending_note() {
    let mut env = Env::new("");
    env.start();
    let id = env.request(&["payment", "--payload", PAYMENT]);
    assert_eq!(id.len(), 12, "{id}");
    let note = env.wait_note(&id, "Pending_Approval", "pending");
    for want in [
        "type: approval_request\n",
        "risk: high\n",
        "action: payment\n",
        "payload_sha256: ",
        "```json\n{\n  \"amount\": 1500,\n  \"currency\": \"USD\",\n  \"recipient\": \"vendor@example.com\"\n}\n```",
        "## Decision\n\n- [ ] Approve\n- [ ] Reject\n",
        "## Result",
        "## History",
        "High value payment",
    ] {
        assert!(note.contains(want), "missing {want:?} in\n{note}");
    }
    assert_eq!(env.events(&id), ["submitted"]);
}

#[test]
fn explain_names_rule_and_signals_and_submits_nothing() {
    let env = Env::new("");
    let (code, out, _) = env.hitl(&["explain", "payment", "--payload", PAYMENT]);
    assert_eq!(code, 0);
    assert!(
        out.contains("rule `large-payment` decides: require"),
        "{out}"
    );
    assert!(
        out.contains("High value payment") && out.contains("Medium value payment"),
        "{out}"
    );
    let (_, json, _) = env.hitl(&["explain", "payment", "--set", "amount=20", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["rule"], serde_json::Value::Null);
    assert_eq!(v["decision"], "require");
    assert!(env.journal().is_empty());
}

// 3. the four gestures

fn assert_executed_once(env: &Env, id: &str, by: &str) {
    let note = env.wait_note(id, "Done", "executed");
    assert!(note.contains("- Exit code: 0\n- Duration: "), "{note}");
    assert!(note.contains(&format!("handled {id}")), "{note}");
    assert!(note.contains("exit_code: 0\n"));
    assert_eq!(
        env.events(id),
        ["submitted", "approved", "executing", "executed"]
    );
    let runs = env.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        runs[0],
        format!(
            r#"{id}|payment|hitl-{id}|{by}|{{"amount":1500,"currency":"USD","recipient":"vendor@example.com"}}"#
        )
    );
}

#[test]
fn gesture_move_to_approved() {
    let (env, id) = Env::with_pending_payment();
    env.mv(&id, "Approved");
    assert_executed_once(&env, &id, "vault");
}

#[test]
fn gesture_move_to_rejected() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| {
        t.replace(
            "payload_sha256",
            "decision_reason: not this month\npayload_sha256",
        )
    });
    env.mv(&id, "Rejected");
    let note = env.wait_note(&id, "Done", "rejected");
    assert!(
        note.contains("decided_by: vault") && note.contains("not this month"),
        "{note}"
    );
    assert!(env.runs().is_empty());
}

/// One request approved and one rejected by editing their notes; returns
/// the rejected one's final note.
fn approve_and_reject_by_editing(
    approve: fn(String) -> String,
    reject: fn(String) -> String,
) -> String {
    let mut env = Env::new("");
    env.start();
    let a = env.pay(1500);
    let r = env.pay(1500);
    env.wait_note(&r, "Pending_Approval", "pending");
    env.edit(&a, approve);
    assert_executed_once(&env, &a, "vault");
    env.edit(&r, reject);
    env.wait_note(&r, "Done", "rejected")
}

#[test]
fn gesture_status_property() {
    approve_and_reject_by_editing(
        |t| t.replace("status: pending", "status: Approved"),
        |t| t.replace("status: pending", "status: rejected"),
    );
}

#[test]
fn gesture_tick_a_box() {
    let note = approve_and_reject_by_editing(
        |t| t.replace("- [ ] Approve", "- [x] Approve"),
        |t| t.replace("- [ ] Reject", "- [x] Reject"),
    );
    assert!(note.contains("- [x] Reject"));
}

#[test]
fn gesture_command_line() {
    let mut env = Env::new("");
    env.start();
    let a = env.pay(1500);
    let r = env.pay(1500);
    assert_eq!(env.hitl(&["approve", &a[..6]]).0, 0);
    assert_executed_once(&env, &a, &me());
    let (code, out, err) = env.hitl(&["reject", &r, "--reason", "duplicate invoice"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rejected"));
    let note = env.wait_note(&r, "Done", "rejected");
    assert!(
        note.contains(&format!("decided_by: {}", me())) && note.contains("duplicate invoice"),
        "{note}"
    );
    let (code, _, err) = env.hitl(&["approve", &r, "--code", "123456"]);
    assert_eq!(code, 1);
    // A code changes nothing about a settled request.
    assert!(err.contains("is already rejected"), "{err}");
    let (_, show, _) = env.hitl(&["show", &r, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["decision_reason"], "duplicate invoice");
    assert_eq!(v["decided_by"], me());
}

#[test]
fn failing_handler_ends_failed() {
    let mut env = Env::new("");
    env.start();
    let id = env.request(&["refund", "--set", "amount=10"]);
    env.hitl(&["approve", &id]);
    let note = env.wait_note(&id, "Done", "failed");
    assert!(
        note.contains("- Exit code: 3") && note.contains("exit_code: 3"),
        "{note}"
    );
    assert_eq!(env.runs().len(), 1);
}

// 4. drop-in

#[test]
fn drop_in_is_ingested_as_pending_and_never_approves_itself() {
    let mut env = Env::new("");
    env.start();
    let path = env.folder("Pending_Approval").join("PAYMENT_Client_A.md");
    std::fs::write(
        &path,
        "---\ntype: approval_request\naction: payment\namount: 500.00\nrecipient: Client A\nreason: Invoice 1234\ncreated: 2026-01-07T10:30:00Z\nstatus: approved\n---\n\n## Decision\n\n- [x] Approve\n",
    )
    .unwrap();
    let note = wait_for_text(&path, "hitl_id: ");
    assert!(note.contains("status: pending\n"), "{note}");
    assert!(note.contains("- [ ] Approve"), "{note}");
    assert!(note.contains("\"recipient\": \"Client A\""), "{note}");
    assert!(note.contains("rationale: Invoice 1234"), "{note}");
    let id = note
        .lines()
        .find_map(|l| l.strip_prefix("hitl_id: ").map(|s| s.trim_matches('"')))
        .unwrap()
        .to_string();
    assert_eq!(env.events(&id), ["submitted"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(env.runs().is_empty());
    env.edit(&id, |t| t.replace("- [ ] Approve", "- [x] Approve"));
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}

fn wait_for_text(path: &std::path::Path, needle: &str) -> String {
    util::wait_for_some(needle, || {
        std::fs::read_to_string(path)
            .ok()
            .filter(|t| t.contains(needle))
    })
}

// 5. timeouts

#[test]
fn timeout_expires_the_request() {
    let mut env = Env::new("");
    env.start();
    let id = env.request(&["payment", "--payload", PAYMENT, "--timeout", "2s"]);
    let note = env.wait_note(&id, "Done", "expired");
    assert!(
        note.contains("expired: no decision before the deadline"),
        "{note}"
    );
    assert!(env.runs().is_empty());
    assert_eq!(env.events(&id), ["submitted", "expired"]);
    let time = |i: usize| {
        env.journal()[i]["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    let late = time(1).duration_since(time(0)).as_secs_f64() - 2.0;
    assert!(
        (0.0..1.0).contains(&late),
        "expired {late:.3} s after the deadline"
    );
}

#[test]
fn deadline_passed_while_stopped_expires_at_start() {
    let mut env = Env::new("");
    env.start();
    let id = env.request(&["payment", "--payload", PAYMENT, "--timeout", "1s"]);
    env.wait_note(&id, "Pending_Approval", "pending");
    env.stop();
    std::thread::sleep(Duration::from_millis(1500));
    env.start();
    env.wait_note(&id, "Done", "expired");
}

// 6. rules

#[test]
fn auto_deny_and_default_rules() {
    let mut env = Env::new(
        "rules:\n  - { name: small-payment, when: { type: payment, amount: { lt: 50 } }, decision: auto }\n  - { name: huge-payment, when: { amount: { gt: 10000 } }, decision: deny }\ndefault: require\n",
    );
    env.start();
    let auto = env.pay(10);
    env.wait_note(&auto, "Done", "executed");
    let auto_event = &env.journal()[1];
    assert_eq!(
        (auto_event["event"].as_str(), auto_event["actor"].as_str()),
        (Some("approved"), Some("rule:small-payment"))
    );
    let deny = env.pay(20000);
    let note = env.wait_note(&deny, "Done", "rejected");
    assert!(note.contains("decided_by: rule:huge-payment"), "{note}");
    let other = env.pay(500);
    env.wait_note(&other, "Pending_Approval", "pending");
    assert_eq!(env.runs().len(), 1);
}

// 7. no collisions

#[test]
fn two_hundred_concurrent_requests() {
    let mut env = Env::new("");
    env.start();
    let children: Vec<_> = (0..200)
        .map(|i| {
            env.cmd()
                .args(["request", "email", "--set", &format!("n={i}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let ids: std::collections::HashSet<String> = children
        .into_iter()
        .map(|c| {
            String::from_utf8(c.wait_with_output().unwrap().stdout)
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(env.journal().len(), 200);
    wait_for("200 notes", || {
        std::fs::read_dir(env.folder("Pending_Approval"))
            .unwrap()
            .count()
            == 200
    });
}

// 8. exit codes

#[test]
fn wait_exit_codes() {
    let mut env = Env::new("");
    env.start();
    let executed = env.pay(1500);
    let approved_only = env.request(&["email"]);
    let rejected = env.pay(1500);
    let failed = env.request(&["refund"]);
    let open = env.pay(1500);
    env.hitl(&["approve", &executed]);
    env.hitl(&["approve", &approved_only]);
    env.hitl(&["reject", &rejected]);
    env.hitl(&["approve", &failed]);
    assert_eq!(env.hitl(&["wait", &executed]).0, 0);
    assert_eq!(env.hitl(&["wait", &approved_only]).0, 0);
    assert_eq!(env.hitl(&["wait", &rejected]).0, 3);
    assert_eq!(env.hitl(&["wait", &failed]).0, 5);
    assert_eq!(env.hitl(&["wait", &open, "--timeout", "300ms"]).0, 7);
    let (code, _, _) = env.hitl(&[
        "request",
        "payment",
        "--payload",
        PAYMENT,
        "--timeout",
        "1s",
        "--wait",
    ]);
    assert_eq!(code, 4);
    let (code, out, _) = env.hitl(&["wait", &approved_only, "--json"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"status\":\"approved\""), "{out}");
}

// 9. journal

#[test]
fn audit_verify_passes_then_names_the_damaged_line() {
    let mut env = Env::new("");
    env.start();
    for _ in 0..3 {
        let id = env.pay(1500);
        env.hitl(&["reject", &id]);
    }
    env.stop();
    let (code, out, _) = env.hitl(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("6 events"));
    let path = env.state.join("journal.jsonl");
    let original = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let edited = original.replacen("\"rejected\"", "\"approved\"", 1);
    let removed = [&lines[..2], &lines[3..]].concat().join("\n") + "\n";
    let swapped = [&[lines[1], lines[0]], &lines[2..]].concat().join("\n") + "\n";
    for (what, text, line) in [
        ("edited", edited, "line 2"),
        ("removed", removed, "line 3"),
        ("swapped", swapped, "line 1"),
    ] {
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = env.hitl(&["audit", "verify"]);
        assert_eq!(code, 1, "{what}");
        assert!(err.contains(line), "{what}: {err}");
    }
}

#[test]
fn list_show_history_read_the_journal() {
    let mut env = Env::new("");
    env.start();
    let a = env.pay(1500);
    let b = env.request(&["email", "--summary", "Send the newsletter"]);
    env.hitl(&["reject", &a, "--reason", "no"]);
    env.stop();
    let (_, out, _) = env.hitl(&["list", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(list.len(), 2);
    let (_, out, _) = env.hitl(&["list", "--status", "pending"]);
    assert!(out.contains(&b) && !out.contains(&a), "{out}");
    let (_, out, _) = env.hitl(&["show", &b]);
    assert!(out.contains("Send the newsletter"));
    let (_, out, _) = env.hitl(&["history", &a, "--json"]);
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["submitted", "rejected"]
    );
}

// 10. restart

#[test]
fn decision_made_while_stopped_is_acted_on_and_deleted_notes_come_back() {
    let mut env = Env::new("");
    env.start();
    let a = env.pay(1500);
    let b = env.pay(1500);
    env.wait_note(&b, "Pending_Approval", "pending");
    env.stop();
    env.edit(&a, |t| t.replace("status: pending", "status: approved"));
    std::fs::remove_file(env.note_path(&b).unwrap()).unwrap();
    env.start();
    assert_executed_once(&env, &a, "vault");
    env.wait_note(&b, "Pending_Approval", "pending");
}

#[test]
fn a_queued_request_expires_from_its_submission() {
    let mut env = Env::new("");
    let (code, out, _) = env.hitl(&[
        "request",
        "payment",
        "--payload",
        PAYMENT,
        "--timeout",
        "1s",
    ]);
    assert_eq!(code, 0);
    let id = out.trim().to_string();
    let start = std::time::Instant::now();
    util::wait_for("deadline passed", || {
        start.elapsed() > Duration::from_millis(1200)
    });
    env.start();
    env.wait_note(&id, "Done", "expired");
}

#[test]
fn request_with_daemon_down_waits_in_the_inbox() {
    let mut env = Env::new("");
    let (code, out, err) = env.hitl(&["request", "payment", "--payload", PAYMENT]);
    assert_eq!(code, 0);
    assert!(err.contains("not running"), "{err}");
    let id = out.trim().to_string();
    env.start();
    env.wait_note(&id, "Pending_Approval", "pending");
}

#[test]
fn decisions_with_the_daemon_down_are_queued_or_refused_at_once() {
    let mut env = Env::new("");
    env.start();
    let a = env.pay(1500);
    let b = env.pay(1500);
    env.hitl(&["reject", &b]);
    env.stop();
    let (code, _, err) = env.hitl(&["approve", &a]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("queued"), "{err}");
    let (code, _, err) = env.hitl(&["approve", &b]);
    assert_eq!(code, 1);
    assert!(err.contains("already rejected"), "{err}");
    assert_eq!(env.hitl(&["approve", "ffffffff"]).0, 1);
    env.start();
    env.wait_note(&a, "Done", "executed");
}
