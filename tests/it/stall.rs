//! Issue 12 point 4: a gesture is not kept waiting behind the daemon's own
//! bulk work (thousands of notes to regenerate after a start).

use std::path::{Path, PathBuf};

use crate::util::{Env, wait_for, wait_for_some};

/// The notes in `dir`, without the daemon's temp files.
fn notes_in(dir: &Path) -> Vec<PathBuf> {
    let mut notes: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".md") && !name.starts_with('.')
        })
        .collect();
    notes.sort();
    notes
}

/// The `hitl_id` a note carries.
fn id_in(note: &Path) -> String {
    let text = std::fs::read_to_string(note).unwrap();
    let line = text.lines().find(|l| l.starts_with("hitl_id: ")).unwrap();
    line["hitl_id: ".len()..].trim_matches('"').to_string()
}

/// `n` open requests (drop-ins taken at start), the daemon down again.
fn open_requests(env: &mut Env, n: usize) -> PathBuf {
    let pending = env.folder("Pending_Approval");
    std::fs::create_dir_all(&pending).unwrap();
    for i in 0..n {
        let text = format!("---\naction: payment\namount: {}\n---\n", 100 + i);
        std::fs::write(pending.join(format!("pay-{i:04}.md")), text).unwrap();
    }
    env.start();
    let submitted = |env: &Env| {
        let journal = env.journal();
        journal.iter().filter(|e| e["event"] == "submitted").count()
    };
    wait_for("every drop-in taken", || submitted(env) == n);
    env.stop();
    pending
}

#[test]
fn a_gesture_during_the_regeneration_of_many_missing_notes_is_decided_before_it_ends() {
    const OPEN: usize = 640; // ten chunks of owed rewrites
    let mut env = Env::new("");
    let pending = open_requests(&mut env, OPEN);
    // Every note but one lost while the daemon was down (a sync tool, a
    // restore): the daemon regenerates them from the journal.
    let notes = notes_in(&pending);
    assert_eq!(notes.len(), OPEN, "one note per drop-in");
    let kept = &notes[0];
    let id = id_in(kept);
    for note in &notes[1..] {
        std::fs::remove_file(note).unwrap();
    }
    // Each chunk of the regeneration waits half a second: ten of them
    // last five seconds, a gesture takes milliseconds.
    env.start_env(&[("FAILPOINTS", "owed-rewrite-chunk=sleep(500)")]);
    wait_for("the regeneration begun", || notes_in(&pending).len() > 1);
    env.edit(&id, |t| t.replace("- [ ] Approve", "- [x] Approve"));
    let present = wait_for_some("the gesture decided", || {
        let decided = env.events(&id).iter().any(|e| e == "approved");
        decided.then(|| notes_in(&pending).len())
    });
    assert!(
        present < OPEN,
        "the gesture waited for all {OPEN} notes to be regenerated\n{}",
        env.log()
    );
    wait_for("every note regenerated", || env.log().contains("left=0"));
    assert_eq!(notes_in(&pending).len(), OPEN - 1, "the approved one left");
    let log = env.log();
    let approved = log
        .find(&format!("request={id} event=\"approved\""))
        .expect("the approval is logged");
    let last_chunk = log.find("left=0").expect("the last chunk is logged");
    assert!(approved < last_chunk, "{log}");
    assert_eq!(env.runs().len(), 1, "one handler run");
}

#[test]
fn a_command_during_the_decisions_on_many_changed_notes_is_decided_before_they_end() {
    const OPEN: usize = 1000; // four chunks of decisions
    let mut env = Env::new("reconcile_every: 1s\n");
    let pending = open_requests(&mut env, OPEN);
    let id = id_in(&notes_in(&pending)[0]);
    // File events are dropped: only a reconcile sees the notes change.
    let hooks = "watcher-drop-events=return;reconcile-decide-chunk=sleep(1000)";
    env.start_env(&[("FAILPOINTS", hooks)]);
    // Every note saved again unchanged (a sync tool, a checkout): the next
    // reconcile reads them all.
    for note in notes_in(&pending) {
        let text = std::fs::read_to_string(&note).unwrap();
        std::fs::write(&note, text).unwrap();
    }
    let chunk = "decided on a chunk of the reconcile's reads";
    wait_for("the decisions begun", || env.log().contains(chunk));
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    wait_for("every read decided", || {
        let log = env.log();
        let begun = log.find(chunk).unwrap();
        log[begun..].contains("reconciled the vault")
    });
    let log = env.log();
    let begun = log.find(chunk).unwrap();
    let ended = begun + log[begun..].find("reconciled the vault").unwrap();
    let approved = log
        .find(&format!("request={id} event=\"approved\""))
        .expect("the approval is logged");
    assert!(
        begun < approved && approved < ended,
        "the approval waited for the reconcile's decisions\n{log}"
    );
}
