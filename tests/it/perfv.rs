//! Issue 12, points 4-6: a reconcile reads only what changed (and still
//! notices every change), and a long start-up can be stopped.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{Env, wait_for};

/// The figures of each "reconciled the vault" log line: (open, listed, read).
fn reconciles(env: &Env) -> Vec<(usize, usize, usize)> {
    let field = |line: &str, key: &str| -> Option<usize> {
        let rest = line.split(&format!(" {key}=")).nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    env.log()
        .lines()
        .filter(|l| l.contains("reconciled the vault"))
        .filter_map(|l| Some((field(l, "open")?, field(l, "listed")?, field(l, "read")?)))
        .collect()
}

/// A daemon whose watcher drops every event: only its reconcile (every
/// second) sees the vault change.
fn blind_daemon() -> Env {
    let mut env = Env::new("reconcile_every: 1s\n");
    env.start_env(&[("FAILPOINTS", "watcher-drop-events=return")]);
    env
}

#[test]
fn a_reconcile_with_nothing_changed_reads_no_note() {
    let env = blind_daemon();
    let ids: Vec<String> = (0..3).map(|i| env.pay(1500 + i)).collect();
    for id in &ids {
        env.wait_note(id, "Pending_Approval", "pending");
    }
    // The notes are listed and known, and none is read again.
    wait_for("a reconcile that reads nothing", || {
        reconciles(&env)
            .iter()
            .any(|&(open, listed, read)| open == 3 && listed >= 3 && read == 0)
    });
}

/// Regression (issue 12): a reconcile that compared only size and
/// modification time would miss an edit of the same size whose
/// modification time was put back (`touch -d`): here, an approval.
#[test]
fn an_edit_that_restores_the_modification_time_is_still_noticed() {
    let env = blind_daemon();
    let id = env.pay(1500);
    let note = env.wait_note(&id, "Pending_Approval", "pending");
    // Its stamp is settled: reconciles no longer read it.
    wait_for("the note known and not read", || {
        reconciles(&env)
            .iter()
            .any(|&(open, _, read)| open == 1 && read == 0)
    });
    let path = env.note_path(&id).unwrap();
    let before = std::fs::metadata(&path).unwrap();
    let ticked = note.replace("- [ ] Approve", "- [x] Approve");
    assert_eq!(ticked.len(), note.len());
    assert_ne!(ticked, note);
    std::fs::write(&path, &ticked).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap(), after.ino()),
        (before.len(), before.modified().unwrap(), before.ino())
    );
    wait_for("the approval noticed by a reconcile", || {
        env.events(&id).iter().any(|e| e == "approved")
    });
}

use std::os::unix::fs::MetadataExt;

#[test]
fn sigterm_during_a_long_start_up_reconcile_stops_the_daemon_at_once() {
    let env = Env::new("");
    // A large vault: the person's own notes in Done/, each read at start.
    let done = env.vault.join("Done");
    std::fs::create_dir_all(&done).unwrap();
    for i in 0..2000 {
        std::fs::write(done.join(format!("note-{i}.md")), format!("# note {i}\n")).unwrap();
    }
    let log = std::fs::File::create(env.log_path()).unwrap();
    // Slowed to 5 ms a file: the start-up reconcile takes ~10 s.
    let mut daemon = env
        .cmd()
        .env("FAILPOINTS", "reconcile-scan-file=sleep(5)")
        .arg("run")
        .stderr(log)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let sock = env.state.join("hitl.sock");
    wait_for("the daemon starting", || sock.exists());
    let signalled = Instant::now();
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(3) {
            let _ = daemon.kill();
            panic!("still running 3 s after SIGTERM\n{}", env.log());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}\n{}", env.log());
    let log = env.log();
    assert!(log.contains("stopped during start-up"), "{log}");
    assert!(!log.contains("hitl is ready"), "{log}");
}
