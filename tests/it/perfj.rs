//! The keyed journal and checkpoints, through the real binary: a journal
//! re-chained without the key fails `audit verify`; a legacy journal is
//! upgraded once at start; a damaged checkpoint costs a full replay, never
//! a wrong state.

use crate::util::*;
use hitl::journal::key::Chain;

/// Rewrites the journal's lines with `edit` and re-chains them with plain
/// SHA-256, as a process that can write the journal but not read its key
/// would.
fn rechain_without_key(env: &Env, edit: impl Fn(usize, String) -> String) {
    let path = env.state.join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = edit(i, line.to_string());
        let head = &line[..line.len() - (9 + 64 + 1) - (9 + 64 + 2)];
        let body = format!("{head},\"prev\":\"{prev}\"}}");
        let hash = String::from_utf8(Chain::Legacy.hash(body.as_bytes()).to_vec()).unwrap();
        out.push_str(&format!(
            "{},\"hash\":\"{hash}\"}}\n",
            &body[..body.len() - 1]
        ));
        prev = hash;
    }
    std::fs::write(&path, out).unwrap();
}

#[test]
fn audit_verify_fails_naming_the_line_when_the_journal_is_rechained_without_the_key() {
    let mut env = Env::new("");
    env.start();
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    env.stop();
    let (code, out, _) = env.hitl(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("HMAC-SHA256") && out.contains("mac "), "{out}");
    rechain_without_key(&env, |_, l| l.replace("1500", "15"));
    let (code, out, err) = env.hitl(&["audit", "verify"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("line 1") && err.contains("MAC mismatch"),
        "{err}"
    );
}

#[test]
fn a_journal_from_before_the_key_is_upgraded_once_and_keeps_its_requests() {
    let mut env = Env::new("");
    env.start();
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    env.stop();
    // As an older hitl left it: a SHA-256 chain, no key, no checkpoint.
    rechain_without_key(&env, |_, l| l);
    std::fs::remove_file(env.state.join("journal.key")).unwrap();
    let _ = std::fs::remove_file(env.state.join("checkpoint"));
    let (code, out, _) = env.hitl(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("unkeyed"), "{out}");
    env.start();
    wait_for("the upgrade journaled", || {
        env.journal().iter().any(|e| e["event"] == "journal_keyed")
    });
    let (code, out, _) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{out}");
    env.wait_note(&id, "Done", "executed");
    env.stop();
    let keyed = env
        .journal()
        .iter()
        .filter(|e| e["event"] == "journal_keyed")
        .count();
    assert_eq!(keyed, 1);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(env.state.join("journal.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let (code, out, _) = env.hitl(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("HMAC-SHA256"), "{out}");
}

#[test]
fn a_damaged_checkpoint_costs_a_full_replay_and_a_log_line_never_a_wrong_state() {
    let mut env = Env::new("");
    env.start();
    let pending = env.pay(1500);
    let rejected = env.pay(1600);
    env.wait_note(&rejected, "Pending_Approval", "pending");
    let (code, _, err) = env.hitl(&["reject", &rejected, "--reason", "no"]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&rejected, "Done", "rejected");
    env.stop();
    let path = env.state.join("checkpoint");
    let mut bytes = std::fs::read(&path).expect("a clean shutdown writes a checkpoint");
    bytes[30] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    env.start();
    wait_for("the fallback logged", || {
        env.log()
            .contains("the checkpoint is damaged: replaying the whole journal")
    });
    let (code, out, _) = env.hitl(&["list", "--json"]);
    assert_eq!(code, 0);
    assert!(out.contains(&pending) && out.contains(&rejected), "{out}");
    env.wait_note(&pending, "Pending_Approval", "pending");
    env.wait_note(&rejected, "Done", "rejected");
    env.stop();
    // That shutdown wrote a sound checkpoint again, used at the next start.
    env.start();
    wait_for("the checkpoint used", || {
        env.log().contains("state loaded from the checkpoint")
    });
    let (code, _, err) = env.hitl(&["approve", &pending]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&pending, "Done", "executed");
}
