//! Issue 13 point 6 / issue 12 point 4: the note stamps are kept across a
//! restart (`note-stamps`, MACed with the journal key), so a start-up reads
//! only the notes that changed while hitl was down; a note edited then is
//! read, and a forged stamp file is not used.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;

use crate::invariants::spawn_daemon;
use crate::util::{Env, wait_for};

/// The reconciles logged so far that read no note.
fn quiet_reconciles(env: &Env) -> usize {
    env.log()
        .lines()
        .filter(|l| l.contains("reconciled the vault") && l.contains(" read=0"))
        .count()
}

/// What the start-up's reconcile read, from `hitl status --json`.
pub(crate) fn start_reads(env: &Env) -> Value {
    let (code, out, err) = env.hitl(&["status", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["daemon"]["start_up"].clone()
}

/// A daemon with `settled` rejected payments (in `Done/`) and one pending,
/// stopped once a reconcile has stamped every note (read them all again
/// with nothing changed): the stamps it wrote down vouch for every note.
pub(crate) fn stamped_vault(settled: usize) -> (Env, Vec<String>, String) {
    let mut env = Env::new("reconcile_every: 1s\n");
    env.start();
    let done: Vec<String> = (0..settled).map(|i| env.pay(100 + i as u32)).collect();
    for id in &done {
        env.wait_note(id, "Pending_Approval", "pending");
        assert_eq!(env.hitl(&["reject", id]).0, 0);
        env.wait_note(id, "Done", "rejected");
    }
    let pending = env.pay(1500);
    env.wait_note(&pending, "Pending_Approval", "pending");
    // Two reconciles reading nothing after the last write: every stamp
    // was taken over a time tick after its note's change.
    let before = quiet_reconciles(&env);
    wait_for("every note stamped", || {
        quiet_reconciles(&env) >= before + 2
    });
    env.stop();
    assert!(env.state.join("note-stamps").is_file());
    (env, done, pending)
}

/// Ticks Approve in place with the same size and the modification time
/// put back: only the change time (which userspace can't set) tells.
pub(crate) fn tick_unseen(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    overwrite_unseen(path, &text.replace("- [ ] Approve", "- [x] Approve"));
}

/// Writes `text` over `path` in place, with the old size and modification
/// time put back (`touch -d`): only the change time tells.
pub(crate) fn overwrite_unseen(path: &Path, text: &str) {
    let before = std::fs::metadata(path).unwrap();
    assert_eq!(text.len() as u64, before.len(), "same size");
    std::fs::write(path, text).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    let after = std::fs::metadata(path).unwrap();
    assert_eq!(
        (after.len(), after.mtime(), after.mtime_nsec(), after.ino()),
        (
            before.len(),
            before.mtime(),
            before.mtime_nsec(),
            before.ino()
        )
    );
}

#[test]
fn unchanged_done_notes_are_not_read_at_start_up() {
    let (mut env, done, pending) = stamped_vault(3);
    env.start();
    let reads = start_reads(&env);
    assert_eq!(reads["stamps"], "used", "{reads}\n{}", env.log());
    assert_eq!(reads["notes_read"], 0, "{reads}");
    assert_eq!(reads["notes_unchanged"], done.len() + 1, "{reads}");
    // Still known where they are: nothing is regenerated, and a decision
    // in a note not read at start is taken.
    let note = env.note_path(&pending).unwrap();
    env.edit(&pending, |t| t.replace("- [ ] Approve", "- [x] Approve"));
    wait_for("the approval taken", || {
        env.events(&pending).iter().any(|e| e == "approved")
    });
    assert!(!env.log().contains("regenerating it"), "{}", env.log());
    assert!(note.exists() || env.note_path(&pending).is_some());
}

#[test]
fn a_note_edited_while_the_daemon_was_down_is_read_at_start_up() {
    let (mut env, done, pending) = stamped_vault(2);
    tick_unseen(&env.note_path(&pending).unwrap());
    env.start();
    wait_for("the approval made while hitl was down taken", || {
        env.events(&pending).iter().any(|e| e == "approved")
    });
    let reads = start_reads(&env);
    assert_eq!(reads["stamps"], "used", "{reads}");
    assert_eq!(reads["notes_read"], 1, "only the edited note: {reads}");
    assert_eq!(reads["notes_unchanged"], done.len(), "{reads}");
}

#[test]
fn a_forged_stamp_file_is_not_used() {
    let (mut env, done, pending) = stamped_vault(2);
    let note = env.note_path(&pending).unwrap();
    tick_unseen(&note);
    // The forger writes the edited note's new stamp into its line, so the
    // file would vouch for the edit; it can't redo the MAC.
    let file = env.state.join("note-stamps");
    let text = std::fs::read_to_string(&file).unwrap();
    let rel = note.strip_prefix(&env.vault).unwrap().to_str().unwrap();
    let m = std::fs::metadata(&note).unwrap();
    let forged: String = text
        .lines()
        .map(|l| {
            if !l.ends_with(&format!(" {rel}")) {
                return format!("{l}\n");
            }
            let f: Vec<&str> = l.splitn(7, ' ').collect();
            let ctime = i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec());
            format!(
                "{} {} {} {} {ctime} {}\n",
                f[0],
                f[1],
                f[2],
                f[3],
                f[5..].join(" ")
            )
        })
        .collect();
    assert_ne!(forged, text, "the note's line was found");
    std::fs::write(&file, forged).unwrap();
    env.start();
    wait_for("the approval taken all the same", || {
        env.events(&pending).iter().any(|e| e == "approved")
    });
    let reads = start_reads(&env);
    assert!(reads["stamps"].as_str().unwrap().contains("MAC"), "{reads}");
    assert_eq!(reads["notes_read"], done.len() + 1, "every note: {reads}");
    assert!(
        env.log().contains("note stamps can't be used"),
        "{}",
        env.log()
    );
}

/// Regression: a decision journaled just before a crash, whose note was
/// never rewritten, leaves the note exactly as the stamp file has it; the
/// journal's tail after the file names the request, so its note is read
/// at the next start (and put right), stamp or not.
#[test]
fn a_note_whose_request_changed_after_the_stamp_file_is_read_at_start_up() {
    let (mut env, _, pending) = stamped_vault(0);
    let note = env.note_path(&pending).unwrap();
    let text = std::fs::read_to_string(&note).unwrap();
    let mut daemon = spawn_daemon(&env, &[("FAILPOINTS", "note-before-rename=panic")]);
    wait_for("daemon up", || env.hitl(&["status"]).0 == 0);
    env.hitl(&["reject", &pending]);
    wait_for("crashed before the note's rewrite", || {
        daemon.0.try_wait().unwrap().is_some()
    });
    assert!(env.events(&pending).iter().any(|e| e == "rejected"));
    assert_eq!(
        std::fs::read_to_string(&note).unwrap(),
        text,
        "not rewritten"
    );
    env.start();
    env.wait_note(&pending, "Done", "rejected");
    let reads = start_reads(&env);
    assert_eq!(reads["stamps"], "used", "{reads}");
    assert_eq!(reads["notes_read"], 1, "{reads}");
}
