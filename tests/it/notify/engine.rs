//! The daemon sends by itself: notices for pending requests, decisions and
//! results through real channels (a local HTTP server, aiosmtpd), every
//! delivery and final failure journaled and in the note's History, storms
//! as digests, reminders journaled once, the requester's `--notify` URL.

use serde_json::Value;

use super::hook::{deliveries, hook, ntfy, wait_hit};
use super::{PASSWORD, TOKEN, make_certs, python_with_aiosmtpd, smtpd};
use crate::util::{Env, me, wait_for, wait_for_some};

#[test]
fn pending_request_is_pushed_to_ntfy_with_the_note_link_and_journaled() {
    let (url, hits) = hook(200);
    let mut env = Env::new(&format!("notify:\n{}", ntfy("phone", &url, "")));
    env.start();
    let id = env.pay(1500);
    let hit = wait_hit(&hits, |h| h.body.contains(&id));
    let title = hit.header("title").unwrap();
    assert!(
        title.starts_with("Approval needed: payment (high risk)"),
        "{title}"
    );
    assert_eq!(hit.header("priority").as_deref(), Some("5"));
    let actions = hit.header("actions").unwrap();
    assert!(
        actions.starts_with(
            "view, Open note, obsidian://open?vault=vault&file=Pending_Approval%2Fpayment-"
        ),
        "{actions}"
    );
    assert!(
        hit.body.contains(&format!("hitl approve {id}")),
        "{}",
        hit.body
    );
    wait_for("notified journaled", || {
        !deliveries(&env, &id, "notified").is_empty()
    });
    let d = &deliveries(&env, &id, "notified")[0];
    assert_eq!(
        (
            d["channel"].as_str(),
            d["event"].as_str(),
            d["attempts"].as_u64()
        ),
        (Some("phone"), Some("pending"), Some(1))
    );
    wait_for("History shows the delivery", || {
        env.note(&id)
            .contains("notified on phone (pending, attempt 1)")
    });

    // The decision and the result are told too, with who decided.
    env.hitl(&["approve", &id, "--reason", "invoice ok"]);
    let decided = wait_hit(&hits, |h| {
        h.header("title").is_some_and(|t| t.starts_with("Decided"))
    });
    let by = format!("approved by {}", me());
    assert!(decided.body.contains(&by), "{}", decided.body);
    assert!(decided.body.contains("invoice ok"), "{}", decided.body);
    wait_hit(&hits, |h| {
        h.header("title").is_some_and(|t| t.starts_with("Result"))
    });
    wait_for("three deliveries journaled", || {
        deliveries(&env, &id, "notified").len() == 3
    });
    env.stop();
    // Replay takes the new events: the daemon starts again on this journal.
    env.start();
    env.stop();
}

#[test]
fn failing_channel_ends_in_notify_failed_in_journal_and_history_without_secrets() {
    let (url, _hits) = hook(500);
    let channel = ntfy(
        "phone",
        &format!("{url}/x?auth={TOKEN}"),
        "    max_attempts: 2\n    token_env: HITL_TEST_TOKEN\n",
    );
    let mail = format!(
        "  - name: mail\n    kind: email\n    smtp: {{ host: 127.0.0.1, port: {}, tls: starttls, username: me, password_env: HITL_TEST_PW }}\n    from: hitl@example.com\n    to: [me@example.com]\n    max_attempts: 1\n",
        super::free_port()
    );
    let mut env = Env::new(&format!("notify:\n{channel}{mail}"));
    env.start_env(&[("HITL_TEST_TOKEN", TOKEN), ("HITL_TEST_PW", PASSWORD)]);
    let id = env.pay(1500);
    wait_for("both failures journaled", || {
        deliveries(&env, &id, "notify_failed").len() == 2
    });
    let failed = deliveries(&env, &id, "notify_failed");
    let phone = failed.iter().find(|d| d["channel"] == "phone").unwrap();
    assert_eq!(phone["attempts"], 2);
    assert_eq!(phone["event"], "pending");
    assert!(
        phone["error"].as_str().unwrap().ends_with("HTTP 500"),
        "{phone}"
    );
    let mail = failed.iter().find(|d| d["channel"] == "mail").unwrap();
    assert_eq!(mail["attempts"], 1);
    wait_for("History shows the failure", || {
        env.note(&id)
            .contains("notification on phone failed (pending, 2 attempts): POST")
    });
    // The dashboard lists what was not delivered, the daemon's page and
    // the one `hitl dashboard` makes from the journal alike.
    let dashboard = env.vault.join("Approvals.md");
    let page = || std::fs::read_to_string(&dashboard).unwrap_or_default();
    wait_for("the dashboard lists the failure", || {
        page().contains("Notifications not delivered:")
            && page().contains("| phone | pending | 2 |")
    });
    let (_, status, _) = env.hitl(&["status", "--json"]);
    env.stop();
    let (code, printed, err) = env.hitl(&["dashboard", "--stdout"]);
    assert_eq!(code, 0, "{err}");
    assert!(printed.contains("| mail | pending | 1 |"), "{printed}");
    let journal = std::fs::read_to_string(env.state.join("journal.jsonl")).unwrap();
    let notes: String = ["Pending_Approval", "Done"]
        .iter()
        .flat_map(|f| std::fs::read_dir(env.folder(f)).unwrap().flatten())
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    super::no_secret(&[&journal, &notes, &env.log(), &status, &page(), &printed]);
}

/// Queues `n` payment requests in the inbox, as `hitl request` does with
/// the daemon down; their ids.
fn queue_payments(env: &Env, n: usize) -> Vec<String> {
    let inbox = env.state.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for dir in [&env.state, &inbox] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    (0..n)
        .map(|i| {
            let id = format!("a{i:011x}");
            let entry = serde_json::json!({ "id": id, "command": {
                "op": "submit", "action": "payment",
                "payload": { "amount": 1000 + i, "recipient": "v@example.com" } } });
            std::fs::write(inbox.join(format!("{id}.json")), entry.to_string()).unwrap();
            id
        })
        .collect()
}

#[test]
fn a_storm_of_pending_requests_is_sent_as_a_digest() {
    let (url, hits) = hook(200);
    let extra = "    digest_after: 3\n    digest_window: 3s\n";
    let mut env = Env::new(&format!("notify:\n{}", ntfy("phone", &url, extra)));
    let ids = queue_payments(&env, 200);
    env.start();
    wait_for("every request's delivery journaled", || {
        let j = env.journal();
        ids.iter().all(|id| {
            j.iter()
                .any(|e| e["request"] == *id && e["event"] == "notified")
        })
    });
    let hits = hits.lock().unwrap().clone();
    assert!(hits.len() <= 20, "{} messages for 200 requests", hits.len());
    // Every request is in one message: sent alone, or counted in a digest.
    let counted: Vec<usize> = hits
        .iter()
        .filter_map(|h| {
            h.header("title")?
                .strip_suffix(" new requests")?
                .parse()
                .ok()
        })
        .collect();
    let alone = hits.len() - counted.len();
    assert_eq!(alone + counted.iter().sum::<usize>(), 200, "{hits:?}");
    let most = counted.iter().max().copied().unwrap_or(0);
    let digest = hits
        .iter()
        .find(|h| h.header("title") == Some(format!("{most} new requests")))
        .unwrap_or_else(|| panic!("no digest in {hits:?}"));
    assert!(most >= 100, "{counted:?}");
    let more = format!("... and {} more", most - 10);
    assert!(digest.body.contains(&more), "{}", digest.body);
    let digested = ids
        .iter()
        .filter(|id| deliveries(&env, id, "notified")[0]["event"] == "digest")
        .count();
    assert_eq!(digested, counted.iter().sum::<usize>());
}

#[test]
fn reminder_is_journaled_once_across_a_restart_and_not_for_a_decided_request() {
    let (url, hits) = hook(200);
    let mut env = Env::new(&format!(
        "reminder_before: 14s\nnotify:\n{}",
        ntfy("phone", &url, "")
    ));
    env.start();
    let decided = env.request(&["payment", "--set", "amount=900", "--timeout", "20s"]);
    let id = env.request(&["payment", "--set", "amount=800", "--timeout", "20s"]);
    env.hitl(&["approve", &decided]);
    wait_for("the reminder journaled", || {
        deliveries(&env, &id, "reminded").len() == 1
    });
    let hit = wait_hit(&hits, |h| {
        h.header("title").is_some_and(|t| t.starts_with("Reminder")) && h.body.contains(&id)
    });
    assert!(hit.body.contains("Deadline:"), "{}", hit.body);
    env.stop();
    env.start();
    // A positive sign the restarted daemon has been through its reminders:
    // a new request's notice delivered and journaled.
    let later = env.pay(1500);
    wait_for("the new request's delivery", || {
        !deliveries(&env, &later, "notified").is_empty()
    });
    assert_eq!(deliveries(&env, &id, "reminded").len(), 1);
    assert!(deliveries(&env, &decided, "reminded").is_empty());
    let reminders = hits
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.header("title").is_some_and(|t| t.starts_with("Reminder")))
        .count();
    assert_eq!(reminders, 1);
    assert!(env.note(&id).contains("reminder sent"), "{}", env.note(&id));
}

#[test]
fn requester_is_told_the_outcome_at_its_notify_url() {
    let (url, hits) = hook(200);
    let mut env = Env::new("");
    env.start();
    let (code, _, err) = env.hitl(&[
        "request",
        "payment",
        "--set",
        "amount=900",
        "--notify",
        "ftp://x/y",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("not an http or https URL"), "{err}");
    let hook_url = format!("{url}/outcome");
    let id = env.request(&["payment", "--set", "amount=900", "--notify", &hook_url]);
    env.hitl(&["approve", &id, "--reason", "fine"]);
    let hit = wait_hit(&hits, |h| h.body.contains(&id));
    assert!(hit.head.starts_with("POST /outcome "), "{}", hit.head);
    let v: Value = serde_json::from_str(&hit.body).unwrap();
    assert_eq!(v["status"], "executed");
    assert_eq!(v["decided_by"], me());
    assert_eq!(v["reason"], "fine");
    assert_eq!(v["exit_code"], 0);
    assert!(
        v["output"]
            .as_str()
            .unwrap()
            .contains(&format!("handled {id}")),
        "{v}"
    );
    wait_for("the delivery journaled", || {
        deliveries(&env, &id, "notified")
            .iter()
            .any(|d| d["channel"] == "requester" && d["event"] == "outcome")
    });
    assert_eq!(hits.lock().unwrap().len(), 1);
}

#[test]
fn notify_test_goes_through_the_running_daemon_and_exits_1_on_failure() {
    let (good, hits) = hook(200);
    let (bad, _) = hook(500);
    let mut env = Env::new(&format!(
        "notify:\n{}{}",
        ntfy("phone", &good, ""),
        ntfy("broken", &bad, "")
    ));
    env.start();
    // The file changes but the daemon keeps its config: the test uses it.
    env.set_config("notify:\n  - { name: other, kind: desktop }\n");
    let (code, out, err) = env.hitl(&["notify", "test", "phone"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "phone: ok (sent by the daemon)\n"),
        "{err}"
    );
    wait_for("the test message", || !hits.lock().unwrap().is_empty());
    let (code, out, _) = env.hitl(&["notify", "test"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("phone: ok"), "{out}");
    assert!(
        out.contains("broken: error: POST http://127.0.0.1:"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("HTTP 500"), "{out}");
    let (code, _, err) = env.hitl(&["notify", "test", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no notify channel named `nope`"), "{err}");
    // Down: sent directly with the file's config.
    env.stop();
    let (code, out, _) = env.hitl(&["notify", "test", "other"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("other: error:"), "{out}");
}

#[test]
fn pending_request_is_emailed_through_starttls_and_auth() {
    let Some(py) = python_with_aiosmtpd() else {
        crate::util::missing_tool("no python3 with aiosmtpd");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    if !make_certs(d.path()) {
        crate::util::missing_tool("openssl could not make the test certificates");
        return;
    }
    let (_server, port, out) = smtpd(&py, d.path(), "starttls");
    let mail = format!(
        "notify:\n  - name: mail\n    kind: email\n    smtp: {{ host: 127.0.0.1, port: {port}, tls: starttls, username: me, password_env: HITL_TEST_PW, ca_file: {} }}\n    from: hitl <hitl@example.com>\n    to: [me@example.com]\n    events: [pending]\n",
        d.path().join("ca.pem").display()
    );
    let mut env = Env::new(&mail);
    env.start_env(&[("HITL_TEST_PW", PASSWORD)]);
    let id = env.pay(1500);
    let raw = wait_for_some("the mail", || std::fs::read_to_string(&out).ok());
    let raw = raw.replace("\r\n ", " ");
    let header = |name: &str| {
        raw.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {raw}"))
            .to_string()
    };
    assert_eq!(header("From"), "hitl <hitl@example.com>");
    assert_eq!(header("To"), "me@example.com");
    assert!(
        header("Subject").starts_with("Approval needed: payment (high risk)"),
        "{raw}"
    );
    assert!(jiff::fmt::rfc2822::parse(&header("Date")).is_ok(), "{raw}");
    assert!(header("Message-ID").ends_with("@example.com>"), "{raw}");
    assert!(
        raw.contains(&format!("Approve: hitl approve {id}")),
        "{raw}"
    );
    wait_for("notified journaled", || {
        deliveries(&env, &id, "notified")
            .iter()
            .any(|d| d["channel"] == "mail")
    });
    env.stop();
    super::no_secret(&[&env.log()]);
}

#[test]
fn a_rules_notify_list_sends_its_requests_only_to_those_channels() {
    let (a, a_hits) = hook(200);
    let (b, b_hits) = hook(200);
    let rules = "rules:\n  - name: big\n    when: { type: payment, amount: { gte: 500 } }\n    decision: require\n    notify: [phone]\n  - name: small\n    when: { type: payment }\n    decision: require\n";
    let mut env = Env::new(&format!(
        "{rules}notify:\n{}{}",
        ntfy("phone", &a, ""),
        ntfy("other", &b, "")
    ));
    env.start();
    let big = env.pay(1500);
    let small = env.pay(100);
    // Each channel sends in order: once `other` has sent the second
    // request, it would have sent the first before it.
    wait_for("the small request on both channels", || {
        let d = deliveries(&env, &small, "notified");
        d.iter().any(|d| d["channel"] == "other") && d.iter().any(|d| d["channel"] == "phone")
    });
    wait_for("the big request on phone", || {
        !deliveries(&env, &big, "notified").is_empty()
    });
    let big_channels: Vec<Value> = deliveries(&env, &big, "notified")
        .iter()
        .map(|d| d["channel"].clone())
        .collect();
    assert_eq!(big_channels, ["phone"]);
    assert!(
        b_hits
            .lock()
            .unwrap()
            .iter()
            .all(|h| !h.body.contains(&big))
    );
    assert!(a_hits.lock().unwrap().iter().any(|h| h.body.contains(&big)));
}
