//! The idle reconcile's area (issue 12, point 4) and the holes of the
//! rewrite by exchange (`src/vault/swap.rs`).

use std::os::unix::fs::FileExt;

use crate::util::{Env, wait_for};
use crate::writes::rewrite_held_past_its_check;

#[test]
fn a_same_size_save_with_its_mtime_put_back_between_the_check_and_the_rename_is_kept() {
    let mut env = Env::new("");
    // A status the daemon can't read makes it rewrite the note with a
    // warning (a checked rewrite), which holds still past its check...
    let id = rewrite_held_past_its_check(&mut env, "pendinx");
    // ...while the person's save lands: the same size, written in place,
    // its modification time put back. Only the change time and the text
    // differ, and the exchange sets the change time anew.
    let path = env.note_path(&id).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let saved = text
        .replace("status: pendinx", "status: pending")
        .replace("- [ ] Approve", "- [x] Approve");
    assert_eq!(saved.len(), text.len());
    assert_ne!(saved, text);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(saved.as_bytes(), 0).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
    assert!(
        env.log()
            .contains("note saved during its rewrite; the save is kept and read again"),
        "{}",
        env.log()
    );
}

/// A daemon whose watcher drops every event, reconciling every second,
/// with one pending request whose idle reconciles `stat` its note through
/// a descriptor held on it (`held=1`), its folder not listed.
fn blind_and_held() -> (Env, String) {
    let mut env = Env::new("reconcile_every: 1s\n");
    env.start_env(&[("FAILPOINTS", "watcher-drop-events=return")]);
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    wait_for("an idle reconcile through a held descriptor", || {
        env.log().lines().any(|l| {
            l.contains("reconciled the vault")
                && l.contains(" unlisted=1 ")
                && l.contains(" held=1 ")
        })
    });
    (env, id)
}

/// The person's tick, written into the note's own file (same size), its
/// modification time put back: only its change time says so.
fn tick_in_place_keeping_mtime(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let ticked = text.replace("- [ ] Approve", "- [x] Approve");
    assert_eq!(ticked.len(), text.len());
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(ticked.as_bytes(), 0).unwrap();
    f.set_modified(mtime).unwrap();
}

#[test]
fn an_approval_saved_in_place_with_its_mtime_put_back_is_read_through_the_held_descriptor() {
    let (env, id) = blind_and_held();
    tick_in_place_keeping_mtime(&env.note_path(&id).unwrap());
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn an_approval_written_through_a_hard_link_outside_the_vault_is_read_through_the_held_descriptor() {
    let (env, id) = blind_and_held();
    let path = env.note_path(&id).unwrap();
    let outside = env.dir.path().join("outside-the-vault.md");
    std::fs::hard_link(&path, &outside).unwrap();
    tick_in_place_keeping_mtime(&outside);
    std::fs::remove_file(&outside).unwrap();
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn a_note_replaced_by_a_rename_while_its_descriptor_is_held_is_read() {
    let (env, id) = blind_and_held();
    let path = env.note_path(&id).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let other = path.with_file_name(".agent-copy");
    std::fs::write(&other, text.replace("- [ ] Approve", "- [x] Approve")).unwrap();
    std::fs::rename(&other, &path).unwrap();
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}
