//! The vault on disk: files that are not notes, folders that are not the
//! vault's, a second daemon, running out of descriptors; and ([`notes`])
//! drop-ins whose rewrite fails and reconciles racing with moves, writes
//! and crashes.

mod notes;

use super::util;

use std::path::{Path, PathBuf};

use util::{Env, wait_for, wait_for_some};

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "{path:?}");
}

pub(super) fn reconciles(env: &Env) -> usize {
    env.log().matches("reconciled the vault").count()
}

/// Waits until the daemon has run `n` more reconciles.
pub(super) fn wait_reconciles(env: &Env, n: usize) {
    let start = reconciles(env);
    wait_for("reconciles", || reconciles(env) >= start + n);
}

/// Every regular file in the vault's folders that carries `hitl_id: id`.
pub(super) fn notes_of(env: &Env, id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in env.note_dirs() {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_file())
                && std::fs::read_to_string(e.path())
                    .unwrap_or_default()
                    .contains(&format!("hitl_id: {id}\n"))
            {
                out.push(e.path());
            }
        }
    }
    out
}

pub(super) fn submitted(env: &Env) -> usize {
    env.journal()
        .iter()
        .filter(|e| e["event"] == "submitted")
        .count()
}

pub(super) fn id_in(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("hitl_id: "))
        .unwrap()
        .trim_matches('"')
        .to_string()
}

#[test]
fn fifo_in_pending_folder_does_not_stall_the_daemon() {
    let mut env = Env::new("reconcile_every: 200ms\n");
    let pending = env.folder("Pending_Approval");
    std::fs::create_dir_all(&pending).unwrap();
    mkfifo(&pending.join("pipe.md"));
    env.start();
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    mkfifo(&pending.join("later.md"));
    // A symlink inside the vault to a FIFO, and a folder named like a note.
    std::os::unix::fs::symlink(pending.join("pipe.md"), pending.join("link.md")).unwrap();
    std::fs::create_dir(pending.join("folder.md")).unwrap();
    let (code, out, _) = env.hitl(&[
        "request",
        "payment",
        "--payload",
        r#"{"amount":900}"#,
        "--timeout",
        "2s",
    ]);
    assert_eq!(code, 0);
    let short = out.trim().to_string();
    env.edit(&id, |t| t.replace("- [ ] Approve", "- [x] Approve"));
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.hitl(&["status"]).0, 0);
    env.wait_note(&short, "Done", "expired");
    wait_reconciles(&env, 5);
    let log = env.log();
    for name in ["pipe.md", "later.md", "link.md", "folder.md"] {
        let lines = log
            .lines()
            .filter(|l| l.contains(name) && l.contains("not a regular file"))
            .count();
        assert_eq!(lines, 1, "{name}: one log line\n{log}");
    }
}

#[test]
fn a_second_daemon_on_the_same_vault_refuses_naming_the_first() {
    let mut env = Env::new("");
    env.start();
    // The first daemon's own first write (the dashboard, just after it is
    // ready) is over before the listing, so its temp file isn't in it.
    wait_for("the first dashboard", || {
        env.vault.join("Approvals.md").exists()
    });
    let before: Vec<_> = std::fs::read_dir(&env.vault)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let mut second = env
        .cmd()
        .env("HITL_STATE_DIR", env.dir.path().join("other-state"))
        .arg("run")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let exited = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let out = second.wait_with_output().unwrap();
    assert!(
        exited.is_some_and(|s| !s.success()),
        "the second daemon ran"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("pid {}", env.pid())) && err.contains("vault"),
        "{err}"
    );
    let after: Vec<_> = std::fs::read_dir(&env.vault)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(before, after, "nothing written into the vault");
    env.kill9();
    env.start();
}

#[test]
fn a_pending_folder_symlinked_out_of_the_vault_is_never_used() {
    let mut env = Env::new("");
    env.start();
    env.stop();
    let pending = env.folder("Pending_Approval");
    let outside = env.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::remove_dir(&pending).unwrap();
    std::os::unix::fs::symlink(&outside, &pending).unwrap();
    let drop_in = outside.join("pay.md");
    std::fs::write(&drop_in, "---\naction: payment\namount: 700\n---\n").unwrap();
    env.start();
    // The start-up reconcile is over once the daemon answers.
    let line = wait_for_some("unavailable", || {
        env.log()
            .lines()
            .find(|l| l.contains("the vault is unavailable"))
            .map(String::from)
    });
    assert!(
        line.contains("Pending_Approval") && line.contains("symlink"),
        "{line}"
    );
    assert_eq!(env.journal().len(), 0, "the drop-in outside was not taken");
    assert!(
        !std::fs::read_to_string(&drop_in)
            .unwrap()
            .contains("hitl_id")
    );
    // A real folder again: the vault is back and used.
    std::fs::remove_file(&pending).unwrap();
    std::fs::create_dir(&pending).unwrap();
    wait_for("back", || env.log().contains("the vault is back"));
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    // Swapped for a symlink while running: noticed, one line.
    std::fs::rename(&pending, env.dir.path().join("moved-away")).unwrap();
    std::os::unix::fs::symlink(&outside, &pending).unwrap();
    wait_for("noticed", || {
        env.log().matches("the vault is unavailable").count() == 2
    });
    let second = env.pay(1500);
    wait_for("journaled", || env.events(&second) == ["submitted"]);
    assert!(
        !std::fs::read_to_string(&drop_in)
            .unwrap()
            .contains("hitl_id")
    );
    assert!(
        notes_of(&env, &second).is_empty(),
        "nothing written outside"
    );
    assert_eq!(env.log().matches("the vault is unavailable").count(), 2);
}

fn set_nofile(pid: i32, soft: u64) -> u64 {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(rc, 0);
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: old.rlim_max,
    };
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(rc, 0);
    old.rlim_cur
}

#[test]
fn a_note_read_failing_for_want_of_descriptors_is_read_again() {
    let (env, id) = Env::with_pending_payment();
    // No new descriptor at all: a limit at the lowest free one raced with
    // the daemon closing a lower one (a CLI connection) meanwhile.
    let before = set_nofile(env.pid(), 0);
    env.edit(&id, |t| t.replace("- [ ] Approve", "- [x] Approve"));
    wait_for("read failed", || {
        env.log()
            .lines()
            .any(|l| l.contains("note not read") && l.contains("Too many open files"))
    });
    set_nofile(env.pid(), before);
    // No further edit: the retry reads it.
    env.wait_note(&id, "Done", "executed");
}
