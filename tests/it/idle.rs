//! The idle reconcile's area (issue 12, point 4) and the holes of the
//! rewrite by exchange (`src/vault/swap.rs`).

use std::os::unix::fs::FileExt;

use crate::cas::rewrite_open;
use crate::util::{Env, wait_for};

#[test]
fn a_same_size_save_with_its_mtime_put_back_between_the_check_and_the_rename_is_kept() {
    let mut env = Env::new("");
    env.start_env(&[("FAILPOINTS", "note-after-check=1*sleep(3000)")]);
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    // A status the daemon can't read makes it rewrite the note with a
    // warning (a checked rewrite), which holds still past its check...
    env.edit(&id, |t| t.replace("status: pending", "status: pendinx"));
    wait_for("the rewrite past its check", || {
        rewrite_open(&env) && env.log().contains("note rewrite checked, not yet in place")
    });
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
