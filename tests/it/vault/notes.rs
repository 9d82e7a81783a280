//! Notes the daemon must write once and keep right: drop-ins taken once,
//! one note per request whatever races a reconcile, notes in `Done/` that a
//! crash left stale or lost, and stale copies.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::util::{Env, wait_for, wait_for_some};
use super::{id_in, notes_of, submitted, wait_reconciles};

#[test]
fn a_drop_in_with_a_240_byte_name_is_taken_once() {
    let mut env = Env::new("reconcile_every: 200ms\n");
    env.start();
    let path = env
        .folder("Pending_Approval")
        .join(format!("{}.md", "p".repeat(237)));
    std::fs::write(&path, "---\naction: payment\namount: 700\n---\n").unwrap();
    let text = wait_for_some("ingested", || {
        std::fs::read_to_string(&path)
            .ok()
            .filter(|t| t.contains("hitl_id: "))
    });
    wait_reconciles(&env, 5);
    assert_eq!(submitted(&env), 1, "{}", env.log());
    env.stop();
    env.start();
    wait_reconciles(&env, 3);
    assert_eq!(submitted(&env), 1);
    assert_eq!(notes_of(&env, &id_in(&text)), [path]);
}

/// Makes a file immutable (even root can't replace it) while it lives.
struct Immutable(PathBuf);

impl Immutable {
    fn new(path: &Path) -> Immutable {
        let ok = Command::new("chattr").arg("+i").arg(path).status().unwrap();
        assert!(ok.success(), "chattr +i");
        Immutable(path.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn a_drop_in_whose_rewrite_fails_is_taken_once() {
    let mut env = Env::new("reconcile_every: 200ms\n");
    let pending = env.folder("Pending_Approval");
    std::fs::create_dir_all(&pending).unwrap();
    let path = pending.join("stuck.md");
    std::fs::write(&path, "---\naction: payment\namount: 700\n---\n").unwrap();
    let _guard = Immutable::new(&path);
    env.start();
    wait_for("rewrite failed", || env.log().contains("note not written"));
    let id = wait_for_some("one submission", || {
        let j = env.journal();
        j.first()
            .map(|e| e["request"].as_str().unwrap().to_string())
    });
    // Its note is regenerated beside the drop-in, under another name.
    env.wait_note(&id, "Pending_Approval", "pending");
    wait_reconciles(&env, 5);
    assert_eq!(submitted(&env), 1, "{}", env.log());
    assert_eq!(env.log().matches("already taken").count(), 1, "logged once");
    env.stop();
    env.start();
    wait_reconciles(&env, 3);
    assert_eq!(submitted(&env), 1, "{}", env.log());
    assert_eq!(notes_of(&env, &id).len(), 1);
    env.edit(&id, |t| t.replace("- [ ] Approve", "- [x] Approve"));
    env.wait_note(&id, "Done", "executed");
}

#[test]
fn a_request_taken_from_the_inbox_at_start_gets_one_note() {
    let mut env = Env::new("");
    let id = env.pay(1500); // the daemon is down: it waits in the inbox
    env.start();
    env.wait_note(&id, "Pending_Approval", "pending");
    env.mv(&id, "Approved");
    env.wait_note(&id, "Done", "executed");
    assert_eq!(notes_of(&env, &id).len(), 1, "{}", env.log());
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn a_note_moved_while_reconciles_run_is_not_regenerated() {
    let mut env = Env::new("reconcile_every: 100ms\n");
    env.start();
    for _ in 0..3 {
        let id = env.pay(1500);
        env.wait_note(&id, "Pending_Approval", "pending");
        wait_reconciles(&env, 1);
        env.mv(&id, "Approved");
        env.wait_note(&id, "Done", "executed");
        assert_eq!(notes_of(&env, &id).len(), 1, "{}", env.log());
    }
    // Out of the vault during a reconcile, and back unchanged.
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    let note = env.note_path(&id).unwrap();
    let away = env.dir.path().join("away.md");
    std::fs::rename(&note, &away).unwrap();
    wait_reconciles(&env, 1);
    std::fs::rename(&away, &note).unwrap();
    wait_reconciles(&env, 12);
    env.edit(&id, |t| t.replace("- [ ] Approve", "- [x] Approve"));
    env.wait_note(&id, "Done", "executed");
    assert_eq!(notes_of(&env, &id).len(), 1, "{}", env.log());
    assert!(!env.log().contains("note missing"), "{}", env.log());
}

#[test]
fn done_notes_left_stale_or_lost_by_a_crash_are_corrected_at_start() {
    let mut env = Env::new("");
    env.start();
    let ids: Vec<String> = (0..3).map(|_| env.pay(1500)).collect();
    for id in &ids {
        env.wait_note(id, "Pending_Approval", "pending");
        assert_eq!(env.hitl(&["approve", id]).0, 0);
        env.wait_note(id, "Done", "executed");
    }
    env.stop();
    // Moved into Done/ but not rewritten (the old order); never moved;
    // lost altogether.
    env.edit(&ids[0], |t| {
        t.replace("status: executed", "status: executing")
    });
    let done = env.note_path(&ids[1]).unwrap();
    std::fs::rename(
        &done,
        env.folder("Pending_Approval")
            .join(done.file_name().unwrap()),
    )
    .unwrap();
    std::fs::remove_file(env.note_path(&ids[2]).unwrap()).unwrap();
    env.start();
    for id in &ids {
        env.wait_note(id, "Done", "executed");
        assert_eq!(notes_of(&env, id).len(), 1, "{}", env.log());
    }
    assert_eq!(env.runs().len(), 3);
}

#[test]
fn done_notes_are_watched_and_a_stale_copy_is_marked_never_read() {
    let mut env = Env::new("");
    env.start();
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    env.mv(&id, "Approved");
    let done = env.wait_note(&id, "Done", "executed");
    // A sync tool brings back the copy that was moved away.
    let copy = env.folder("Approved").join(format!("payment-{id}.md"));
    std::fs::write(&copy, done.replace("status: executed", "status: pending")).unwrap();
    let text = wait_for_some("stale copy marked", || {
        std::fs::read_to_string(&copy)
            .ok()
            .filter(|t| t.contains("stale copy"))
    });
    assert!(text.contains("> [!warning] hitl"), "{text}");
    // An edit in Done/ reaches the daemon: the view is put back.
    let done_path = env
        .note_dirs()
        .into_iter()
        .map(|d| d.join(format!("payment-{id}.md")))
        .find(|p| p.starts_with(env.folder("Done")) && p.is_file())
        .unwrap();
    std::fs::write(
        &done_path,
        done.replace("status: executed", "status: rejected"),
    )
    .unwrap();
    wait_for("put back", || {
        std::fs::read_to_string(&done_path)
            .unwrap()
            .contains("status: executed\n")
    });
    assert_eq!(
        env.events(&id),
        ["submitted", "approved", "executing", "executed"]
    );
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn a_drop_in_written_again_after_its_request_settled_is_a_new_request() {
    let mut env = Env::new("");
    env.start();
    let path = env.folder("Pending_Approval").join("weekly.md");
    let drop_in = "---\naction: payment\namount: 700\n---\n";
    for round in 1..=2 {
        std::fs::write(&path, drop_in).unwrap();
        let text = wait_for_some("ingested", || {
            std::fs::read_to_string(&path)
                .ok()
                .filter(|t| t.contains("hitl_id: "))
        });
        let id = id_in(&text);
        assert_eq!(env.hitl(&["reject", &id, "--reason", "not this week"]).0, 0);
        env.wait_note(&id, "Done", "rejected");
        assert_eq!(submitted(&env), round);
    }
}

#[test]
fn notes_in_a_subfolder_of_done_are_watched_and_kept_there() {
    let mut env = Env::new(""); // no periodic reconcile during the test
    env.start();
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    assert_eq!(env.hitl(&["approve", &id]).0, 0);
    let text = env.wait_note(&id, "Done", "executed");
    let month = env.folder("Done").join("2020-01");
    let watching = || env.log().matches("watching a new folder of Done/").count();
    let before = watching();
    std::fs::create_dir(&month).unwrap();
    wait_for("watch armed", || watching() > before);
    let kept = month.join(format!("payment-{id}.md"));
    std::fs::rename(env.note_path(&id).unwrap(), &kept).unwrap();
    std::fs::write(&kept, text.replace("status: executed", "status: rejected")).unwrap();
    wait_for("put back in place", || {
        std::fs::read_to_string(&kept).is_ok_and(|t| t.contains("status: executed\n"))
    });
    env.stop();
    env.set_config("reconcile_every: 200ms\n");
    env.start();
    wait_reconciles(&env, 8); // past the settling time of a missing note
    assert_eq!(
        notes_of(&env, &id),
        vec![kept.clone()],
        "none regenerated elsewhere"
    );
    assert!(
        std::fs::read_to_string(&kept)
            .unwrap()
            .contains(&format!("hitl_id: {id}"))
    );
}
