//! Note writes that fail are retried until they land, and a save made
//! between a rewrite's compare-and-swap check and its rename is kept.

use crate::cas::rewrite_open;
use crate::util::{Env, wait_for};

/// Starts the daemon with its next checked rewrite held 3 s between its
/// compare-and-swap check and its rename, and makes one: a payment's note
/// given a status the daemon can't read (`bad`), which it rewrites with a
/// warning. Returns the request's id once that rewrite is held.
pub fn rewrite_held_past_its_check(env: &mut Env, bad: &str) -> String {
    env.start_env(&[("FAILPOINTS", "note-after-check=1*sleep(3000)")]);
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    env.edit(&id, |t| {
        t.replace("status: pending", &format!("status: {bad}"))
    });
    wait_for("the rewrite past its check", || {
        rewrite_open(env) && env.log().contains("note rewrite checked, not yet in place")
    });
    id
}

/// The files of `Pending_Approval/` that are notes (not temp files).
fn notes_in(env: &Env, folder: &str) -> Vec<String> {
    std::fs::read_dir(env.folder(folder))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// A drop-in's rewrite fails (as on a full disk) several times: each
/// failure is logged with its retry, and once the disk is freed the note
/// lands over the drop-in (adopting it, no second note), with no new
/// drop-in, command or restart needed.
#[test]
fn a_note_write_that_fails_is_retried_until_it_lands() {
    let mut env = Env::new("");
    let full = env.start_with_note_writes_failing();
    let drop_in = env.folder("Pending_Approval").join("pay-rent.md");
    std::fs::write(&drop_in, "---\naction: payment\namount: 900\n---\n").unwrap();
    wait_for("the drop-in journaled", || {
        env.journal().iter().any(|e| e["event"] == "submitted")
    });
    // Failed, and failed again at its first retry.
    wait_for("a retry that failed too", || {
        env.log().contains("attempts=2") && env.log().contains("note not written; retried later")
    });
    let raw = std::fs::read_to_string(&drop_in).unwrap();
    assert!(!raw.contains("hitl_id:"), "written though it failed: {raw}");
    std::fs::remove_file(&full).unwrap();
    wait_for("the note written over the drop-in", || {
        std::fs::read_to_string(&drop_in).is_ok_and(|t| t.contains("hitl_id:"))
    });
    assert_eq!(notes_in(&env, "Pending_Approval"), ["pay-rent.md"]);
    let id = env.journal()[0]["request"].as_str().unwrap().to_string();
    env.wait_note(&id, "Pending_Approval", "pending");
}

/// The rewrite is held after its compare-and-swap check passed and before
/// its rename; the person ticks Approve then. The rename used to replace
/// the file holding that save, losing the approval; the exchange finds the
/// save in the replaced file, puts it back and reads it.
#[test]
fn a_save_between_the_check_and_the_rename_is_put_back_and_read() {
    let mut env = Env::new("");
    let id = rewrite_held_past_its_check(&mut env, "maybe");
    // ...and the person ticks Approve while it waits to rename.
    env.edit(&id, |t| {
        t.replace("status: maybe", "status: pending")
            .replace("- [ ] Approve", "- [x] Approve")
    });
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
    assert!(
        env.log()
            .contains("note saved during its rewrite; the save is kept and read again"),
        "{}",
        env.log()
    );
}
