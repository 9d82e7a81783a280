//! Issue 12, point 4: an idle reconcile skips the judge of missing notes
//! when nothing it depends on changed, and stats each note through its
//! folder. Each shortcut tried as the agent would: a change no file event
//! reported is still seen.

use crate::util::{Env, wait_for};

/// The reconciles so far that judged the notes (`judged=true`) and that
/// skipped it (`judged=false`).
fn judges(env: &Env) -> (usize, usize) {
    let log = env.log();
    let lines = log.lines().filter(|l| l.contains("reconciled the vault"));
    lines.fold((0, 0), |(yes, no), l| {
        (
            yes + usize::from(l.contains(" judged=true")),
            no + usize::from(l.contains(" judged=false")),
        )
    })
}

/// A daemon whose watcher drops every event, reconciling every second, with
/// one pending request whose idle reconciles already skip the judge.
fn blind_and_settled() -> (Env, String) {
    let mut env = Env::new("reconcile_every: 1s\n");
    env.start_env(&[("FAILPOINTS", "watcher-drop-events=return")]);
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    wait_for("an idle reconcile that skips the judge", || {
        judges(&env).1 > 0
    });
    (env, id)
}

#[test]
fn a_note_deleted_without_a_file_event_is_regenerated_though_idle_reconciles_skip_the_judge() {
    let (env, id) = blind_and_settled();
    let path = env.note_path(&id).unwrap();
    let judged = judges(&env).0;
    std::fs::remove_file(&path).unwrap();
    wait_for("the note regenerated", || {
        env.note_path(&id).is_some_and(|p| p == path)
    });
    assert!(judges(&env).0 > judged, "the lost note made the judge run");
    assert!(env.log().contains("note missing from the vault"));
}

#[test]
fn a_note_renamed_without_a_file_event_is_followed_not_regenerated() {
    let (env, id) = blind_and_settled();
    let path = env.note_path(&id).unwrap();
    let moved = path.with_file_name("renamed by the agent.md");
    std::fs::rename(&path, &moved).unwrap();
    // Judged again, then skipped again: the note is known at its new name.
    let (judged, skipped) = judges(&env);
    wait_for("the rename judged, then idle again", || {
        let (j, s) = judges(&env);
        j > judged && s > skipped + 1
    });
    assert_eq!(env.note_path(&id), Some(moved.clone()));
    let notes = std::fs::read_dir(moved.parent().unwrap()).unwrap().count();
    assert_eq!(notes, 1, "no second note for the request");
    assert!(!env.log().contains("note missing from the vault"));
}

/// The per-note `stat` is kept while the judge is skipped: an approval
/// written through a hard link made outside the vault (which reports no
/// event in the vault even to a watcher that sees everything) is read.
#[test]
fn an_approval_written_through_a_hard_link_outside_the_vault_is_read_while_the_judge_is_skipped() {
    let (env, id) = blind_and_settled();
    let path = env.note_path(&id).unwrap();
    let note = std::fs::read_to_string(&path).unwrap();
    let link = env.dir.path().join("outside.md");
    std::fs::hard_link(&path, &link).unwrap();
    std::fs::write(&link, note.replace("- [ ] Approve", "- [x] Approve")).unwrap();
    std::fs::remove_file(&link).unwrap();
    wait_for("the approval read", || {
        env.events(&id).iter().any(|e| e == "approved")
    });
}
