//! Bad input never crashes or stalls the daemon; notes get a visible warning
//! and the log a clear message; nothing runs that was not cleanly approved.

use super::util;

use std::time::Duration;

use util::{Env, wait_for};

/// The daemon still answers and still takes new work.
fn still_alive(env: &Env) {
    assert_eq!(env.hitl(&["status"]).0, 0, "{}", env.log());
    let id = env.request(&["email"]);
    env.wait_note(&id, "Pending_Approval", "pending");
}

fn wait_warning(env: &Env, id: &str, needle: &str) -> String {
    util::wait_for_some(needle, || {
        let text = std::fs::read_to_string(env.note_path(id)?).ok()?;
        (text.contains("> [!warning] hitl") && text.contains(needle)).then_some(text)
    })
}

#[test]
fn malformed_yaml() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| {
        t.replace(
            "payload_sha256",
            "decision_reason: [unclosed\npayload_sha256",
        )
    });
    let note = wait_warning(&env, &id, "could not read this note");
    assert!(
        note.contains("not valid YAML") && note.contains("line "),
        "{note}"
    );
    assert!(
        note.contains("decision_reason: [unclosed"),
        "the human's line is kept"
    );
    assert!(env.log().contains("note not readable"));
    still_alive(&env);
    assert_eq!(env.events(&id), ["submitted"]);
}

#[test]
fn note_written_in_two_halves_is_read_once_complete() {
    let mut env = Env::new("");
    env.start();
    let path = env.folder("Pending_Approval").join("half.md");
    let full = "---\naction: payment\namount: 700\nrecipient: Client B\nreason: Invoice 77\n---\n";
    std::fs::write(&path, &full[..25]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    std::fs::write(&path, full).unwrap();
    let text = util::wait_for_some("ingested", || {
        std::fs::read_to_string(&path)
            .ok()
            .filter(|t| t.contains("hitl_id: "))
    });
    assert!(
        text.contains("\"amount\": 700") && text.contains("\"recipient\": \"Client B\""),
        "{text}"
    );
    assert!(!text.contains("[!warning] hitl"), "{text}");
    assert_eq!(env.journal().len(), 1);
}

#[test]
fn unknown_status_word() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| t.replace("status: pending", "status: yes please"));
    wait_warning(&env, &id, "unknown status `yes please`");
    assert!(
        env.log()
            .contains("no decision taken: unknown status `yes please`")
    );
    still_alive(&env);
    assert_eq!(env.events(&id), ["submitted"]);
    assert!(env.runs().is_empty());
}

#[test]
fn both_boxes_ticked() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| {
        t.replace("- [ ] Approve", "- [x] Approve")
            .replace("- [ ] Reject", "- [x] Reject")
    });
    wait_warning(&env, &id, "conflicting decisions");
    assert!(
        env.log()
            .contains("no decision taken: conflicting decisions")
    );
    assert_eq!(env.events(&id), ["submitted"]);
    // Unticking one then decides.
    env.edit(&id, |t| t.replace("- [x] Reject", "- [ ] Reject"));
    env.wait_note(&id, "Done", "executed");
}

#[test]
fn binary_file() {
    let mut env = Env::new("");
    env.start();
    let path = env.folder("Pending_Approval").join("blob.md");
    std::fs::write(&path, b"---\naction: payment\n\x00\x01\x02\xff---\n").unwrap();
    wait_for("logged", || env.log().contains("binary content"));
    still_alive(&env);
    assert_eq!(std::fs::read(&path).unwrap()[..3], *b"---");
}

#[test]
fn fifty_megabyte_file() {
    let mut env = Env::new("");
    env.start();
    let path = env.folder("Pending_Approval").join("huge.md");
    let mut text = String::from("---\naction: payment\n---\n");
    text.push_str(&"x".repeat(50 * 1024 * 1024));
    std::fs::write(&path, text).unwrap();
    wait_for("logged", || env.log().contains("over the 1048576-byte cap"));
    still_alive(&env);
    assert_eq!(env.journal().len(), 1, "only the liveness probe's request");
}

#[test]
fn symlink_out_of_the_vault() {
    let mut env = Env::new("");
    env.start();
    let outside = env.dir.path().join("outside.md");
    std::fs::write(&outside, "---\naction: payment\namount: 5\n---\n").unwrap();
    std::os::unix::fs::symlink(&outside, env.folder("Pending_Approval").join("link.md")).unwrap();
    wait_for("logged", || {
        env.log().contains("symlink pointing outside the vault")
    });
    still_alive(&env);
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "---\naction: payment\namount: 5\n---\n"
    );
    assert_eq!(env.journal().len(), 1);
}

#[test]
fn duplicate_status_key() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| {
        t.replace("status: pending\n", "status: pending\nstatus: approved\n")
    });
    wait_warning(&env, &id, "duplicate");
    assert!(env.log().contains("note not readable"));
    still_alive(&env);
    assert_eq!(env.events(&id), ["submitted"]);
    assert!(env.runs().is_empty());
}

#[test]
fn edited_payload_is_tampered_and_never_runs() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| t.replace("\"amount\": 1500", "\"amount\": 150000"));
    let note = env.wait_note(&id, "Done", "tampered");
    assert!(note.contains("tampered"));
    assert!(env.log().contains("tampered, it will never run"));
    env.edit(&id, |t| t.replace("status: tampered", "status: approved"));
    assert_eq!(env.hitl(&["approve", &id]).0, 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.events(&id), ["submitted", "tampered"]);
    assert!(env.runs().is_empty());
    assert_eq!(env.hitl(&["wait", &id]).0, 6);
}

#[test]
fn human_text_survives_every_update() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| {
        t.replace("payload_sha256", "reviewer: alice\npayload_sha256")
            .replace(
                "- [ ] Reject\n",
                "- [ ] Reject\n\nChecked with Bob on the phone.\n",
            )
            + "\n## My notes\n\nPay from the savings account.\n"
    });
    // A warning forces a rewrite while pending, then the decision another two.
    env.edit(&id, |t| t.replace("status: pending", "status: maybe"));
    wait_warning(&env, &id, "unknown status");
    env.hitl(&["approve", &id]);
    let note = env.wait_note(&id, "Done", "executed");
    for kept in [
        "reviewer: alice\n",
        "Checked with Bob on the phone.",
        "## My notes\n\nPay from the savings account.",
    ] {
        assert!(note.contains(kept), "lost {kept:?}:\n{note}");
    }
}

#[test]
fn a_bad_file_is_reported_once_not_at_every_reconcile() {
    let mut env = Env::new("reconcile_every: 100ms\n");
    env.start();
    std::fs::write(env.folder("Pending_Approval").join("blob.md"), b"\x00\x01").unwrap();
    std::fs::write(
        env.folder("Approved").join("stray.md"),
        "---\naction: payment\n---\n",
    )
    .unwrap();
    wait_for("several reconciles", || {
        env.log().matches("reconciled the vault").count() >= 5
    });
    let log = env.log();
    assert_eq!(log.matches("binary content").count(), 1, "{log}");
    assert_eq!(
        log.matches("only notes in the pending folder").count(),
        1,
        "{log}"
    );
}
