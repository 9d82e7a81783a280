//! The steps of the crash scenarios: what is done before the daemon is
//! started with a failpoint armed, and what then reaches it.

use std::path::Path;

use super::{Before, Scenario};
use crate::invariants::list;
use crate::util::{Env, wait_for};

pub(super) fn payment(env: &Env) -> String {
    env.request(&[
        "payment",
        "--payload",
        r#"{"amount":1500,"recipient":"a@example.com"}"#,
    ])
}

pub(super) fn drop_in(env: &Env, before: &mut Before) {
    let tmp = env.dir.path().join("agent.md");
    std::fs::write(
        &tmp,
        "---\ntype: approval_request\naction: payment\namount: 700\nrecipient: Client D\n---\n",
    )
    .unwrap();
    // Agents write then move, so a half-written note is never seen.
    std::fs::rename(&tmp, env.folder("Pending_Approval").join("agent.md")).unwrap();
    before.drop_ins += 1;
}

/// With the daemon down: a request queued in the inbox and a drop-in note,
/// both taken at the next start.
pub(super) fn queued_while_down(env: &mut Env, before: &mut Before) {
    std::fs::create_dir_all(env.folder("Pending_Approval")).unwrap();
    before.acknowledged.insert(payment(env));
    drop_in(env, before);
}

/// With the daemon down: only a drop-in note, so the first append at the
/// next start is the start-up reconcile's own.
pub(super) fn drop_in_while_down(env: &mut Env, before: &mut Before) {
    std::fs::create_dir_all(env.folder("Pending_Approval")).unwrap();
    drop_in(env, before);
}

/// A pending payment, its note written, and the daemon stopped.
pub(super) fn one_pending(env: &mut Env, before: &mut Before) {
    env.start();
    let id = payment(env);
    env.wait_note(&id, "Pending_Approval", "pending");
    before.acknowledged.insert(id);
    env.stop();
}

/// A pending request for the idempotent (slow) handler; daemon stopped.
pub(super) fn one_pending_idempotent(env: &mut Env, before: &mut Before) {
    env.start();
    let id = env.request(&["slow_idem"]);
    env.wait_note(&id, "Pending_Approval", "pending");
    before.acknowledged.insert(id);
    env.stop();
}

/// A pending payment approved by `hitl approve` while the daemon is down:
/// the approval waits in the inbox.
pub(super) fn approval_queued_while_down(env: &mut Env, before: &mut Before) {
    one_pending(env, before);
    let id = before.acknowledged.first().unwrap().clone();
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "a queued approval is acknowledged: {err}");
}

pub(super) fn nothing(_: &Env, _: &mut Before) {}

pub(super) fn up(env: &Env) -> String {
    wait_for("armed daemon up", || env.hitl(&["status"]).0 == 0);
    before_id(env)
}

/// The one request the scenario made before arming.
pub(super) fn before_id(env: &Env) -> String {
    list(env).into_iter().next().expect("a request").0
}

pub(super) fn approve_by_cli(env: &Env, _: &mut Before) {
    let id = up(env);
    let _ = env.hitl(&["approve", &id]); // the daemon dies on the way
}

pub(super) fn approve_by_move(env: &Env, _: &mut Before) {
    up(env);
    let note = only_note(&env.folder("Pending_Approval"));
    let to = env.folder("Approved").join(note.file_name().unwrap());
    std::fs::rename(note, to).unwrap();
}

pub(super) fn approve_by_status(env: &Env, _: &mut Before) {
    up(env);
    let note = only_note(&env.folder("Pending_Approval"));
    let text = std::fs::read_to_string(&note).unwrap();
    std::fs::write(
        &note,
        text.replacen("status: pending\n", "status: approved\n", 1),
    )
    .unwrap();
}

pub(super) fn reject_by_tick(env: &Env, _: &mut Before) {
    up(env);
    let note = only_note(&env.folder("Pending_Approval"));
    let text = std::fs::read_to_string(&note).unwrap();
    std::fs::write(&note, text.replace("- [ ] Reject", "- [x] Reject")).unwrap();
}

pub(super) fn submit_by_cli(env: &Env, before: &mut Before) {
    wait_for("armed daemon up", || env.hitl(&["status"]).0 == 0);
    // Acknowledged only if the daemon answered before it died.
    let out = env
        .cmd()
        .args(["request", "payment", "--payload", r#"{"amount":900}"#])
        .output()
        .unwrap();
    if out.status.success() {
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        before.acknowledged.insert(id);
    }
}

pub(super) fn drop_in_while_up(env: &Env, before: &mut Before) {
    wait_for("armed daemon up", || env.hitl(&["status"]).0 == 0);
    drop_in(env, before);
}

pub(super) fn only_note(dir: &Path) -> std::path::PathBuf {
    let notes: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    notes[0].clone()
}

pub(super) const AT_START: Scenario = Scenario {
    before: queued_while_down,
    armed: nothing,
    ends: None,
};
