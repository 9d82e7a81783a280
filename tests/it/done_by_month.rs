//! `Done/` by month: settled notes go to `Done/<YYYY-MM>/`; notes lying
//! directly in `Done/` are moved there once at start-up, journaled; a note
//! the person moved stays where they put it.

use std::path::PathBuf;

use crate::util::{Env, wait_for, wait_for_some};

fn this_month() -> String {
    hitl::vault::month_of(jiff::Timestamp::now(), &jiff::tz::TimeZone::system())
}

fn reconciles(env: &Env) -> usize {
    env.log().matches("reconciled the vault").count()
}

fn filed(env: &Env, id: &str) -> usize {
    env.events(id).iter().filter(|e| *e == "filed").count()
}

/// A settled payment's note in its month, with the file name it had.
fn settled(env: &Env) -> (String, PathBuf) {
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    let name = env.note_path(&id).unwrap().file_name().unwrap().to_owned();
    assert_eq!(env.hitl(&["reject", &id]).0, 0);
    env.wait_note(&id, "Done", "rejected");
    let path = env.note_path(&id).unwrap();
    assert_eq!(path.file_name().unwrap(), name, "the wikilink's target");
    (id, path)
}

#[test]
fn a_settled_note_goes_to_the_folder_of_its_month_under_its_own_name() {
    let mut env = Env::new("");
    env.start();
    wait_for("the start-up reconcile", || reconciles(&env) == 1);
    let (id, path) = settled(&env);
    assert_eq!(
        path.parent().unwrap(),
        env.folder("Done").join(this_month())
    );
    assert_eq!(filed(&env, &id), 0, "filed only when moved from Done/");
    wait_for("the new month watched", || {
        env.log().contains("watching a new folder of Done/")
    });
    assert_eq!(reconciles(&env), 1, "a new month reads that folder only");
}

#[test]
fn notes_lying_directly_in_done_are_moved_to_their_month_once_at_start_journaled() {
    let mut env = Env::new("");
    env.start();
    let (id, path) = settled(&env);
    env.stop();
    // As an earlier version left it: directly in Done/.
    let old = env.folder("Done").join(path.file_name().unwrap());
    std::fs::rename(&path, &old).unwrap();
    env.start();
    wait_for("moved back into its month", || {
        path.is_file() && !old.exists()
    });
    let note = env.note(&id);
    assert!(
        note.contains(&format!("note moved into Done/{}/", this_month())),
        "the History shows the move:\n{note}"
    );
    let ev = env
        .journal()
        .into_iter()
        .find(|e| e["request"] == id.as_str() && e["event"] == "filed")
        .unwrap();
    assert_eq!(ev["details"]["folder"], format!("Done/{}", this_month()));
    env.stop();
    env.start();
    assert_eq!(env.hitl(&["status"]).0, 0);
    assert_eq!(filed(&env, &id), 1, "moved once");
    assert_eq!(env.note_path(&id).unwrap(), path);
    let (code, out, err) = env.hitl(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_note_the_person_moved_to_another_month_stays_there_across_a_restart() {
    let mut env = Env::new("");
    env.start();
    let (id, path) = settled(&env);
    let watching = || env.log().matches("watching a new folder of Done/").count();
    let before = watching();
    let reconciled = reconciles(&env);
    let other = env.folder("Done").join("2020-01");
    std::fs::create_dir(&other).unwrap();
    let moved = other.join(path.file_name().unwrap());
    wait_for("the month folder watched", || watching() > before);
    std::fs::rename(&path, &moved).unwrap();
    let text = std::fs::read_to_string(&moved).unwrap();
    std::fs::write(&moved, text.replace("status: rejected", "status: approved")).unwrap();
    wait_for_some("a daemon-owned property put back in place", || {
        std::fs::read_to_string(&moved)
            .ok()
            .filter(|t| t.contains("status: rejected\n"))
    });
    assert_eq!(
        reconciles(&env),
        reconciled,
        "a new month folder is read, not the whole vault"
    );
    let before = reconciles(&env);
    env.stop();
    env.start();
    wait_for("a reconcile after the restart", || {
        reconciles(&env) > before
    });
    assert_eq!(env.note_path(&id).unwrap(), moved);
    assert!(!path.exists(), "not regenerated in its old place");
    assert_eq!(filed(&env, &id), 0);
    assert_eq!(env.events(&id).last().unwrap(), "rejected");
}
