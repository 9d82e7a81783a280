//! The journal as the record: run markers keep "at most once" when its tail
//! is lost, recovery starts what it journaled, `audit verify` shows the
//! head, and a journal that can't be written (disk full, moved away) stops
//! new work with a reason instead of stopping the daemon.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::util::{BIN, Env, crashed_while_running, running, wait_for};

fn journal_lines(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.state.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_run_whose_marker_exists_is_not_started_again_when_the_journal_tail_is_lost() {
    let (mut env, id) = Env::with_pending_payment();
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&id, "Done", "executed");
    env.stop();
    let mut lines = journal_lines(&env);
    let cut: Vec<String> = lines.split_off(lines.len() - 2);
    assert!(cut[0].contains("\"executing\"") && cut[1].contains("\"executed\""));
    write_lines(&env.state.join("journal.jsonl"), &lines);
    env.start();
    wait_for("the request ends unknown", || {
        env.events(&id).last().map(String::as_str) == Some("unknown")
    });
    assert_eq!(
        env.events(&id),
        ["submitted", "approved", "executing", "unknown"]
    );
    let note = wait_for_note(&env, &id, "status: unknown");
    assert!(note.contains("may have run before"), "{note}");
    assert_eq!(
        env.runs().len(),
        1,
        "the handler ran once: {:?}",
        env.runs()
    );
}

#[test]
fn recovery_starts_a_journaled_run_whose_handler_never_started() {
    let (mut env, id) = crashed_while_running("slow_idem");
    // As if the crash came between journaling `executing` and the start.
    let marker = env.state.join("runs").join(format!("{id}.1"));
    std::fs::remove_file(&marker).unwrap();
    env.start();
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 2, "exactly once more: {:?}", env.runs());
    assert_eq!(
        env.events(&id),
        ["submitted", "approved", "executing", "executed"],
        "the idempotent handler's one re-run is not spent"
    );
    assert!(marker.exists(), "the run that started has its marker");
}

#[test]
fn audit_verify_prints_the_head_and_calls_a_torn_file_not_intact() {
    let mut env = Env::new("");
    env.start();
    env.pay(1500);
    env.pay(1500);
    env.stop();
    let journal = env.journal();
    let head = |i: usize| {
        format!(
            "head: seq {}, mac {}",
            journal[i]["seq"],
            journal[i]["hash"].as_str().unwrap()
        )
    };
    let (code, out, err) = env.hitl(&["audit", "verify"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("is intact"), "{out}");
    assert!(out.contains(&head(journal.len() - 1)), "{out}");
    let path = env.state.join("journal.jsonl");
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - 30]).unwrap();
    let (code, out, _) = env.hitl(&["audit", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        !out.contains("is intact") && out.contains("torn line"),
        "{out}"
    );
    assert!(out.contains(&head(journal.len() - 2)), "{out}");
}

#[test]
fn a_journal_moved_away_while_running_is_noticed_and_not_written() {
    let (env, id) = Env::with_pending_payment();
    let path = env.state.join("journal.jsonl");
    let moved = env.dir.path().join("moved-journal.jsonl");
    std::fs::rename(&path, &moved).unwrap();
    let before = std::fs::read(&moved).unwrap();
    let (code, _, err) = env.hitl(&["request", "payment", "--set", "amount=700"]);
    assert_eq!(code, 1, "the submit is refused: {err}");
    assert!(
        err.contains("moved to") && err.contains("moved-journal.jsonl"),
        "{err}"
    );
    let (code, out, _) = env.hitl(&["status"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DEGRADED") && out.contains("moved to"),
        "{out}"
    );
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not taking new work"), "{err}");
    assert_eq!(std::fs::read(&moved).unwrap(), before, "nothing written");
    assert!(
        !path.exists(),
        "no new journal started behind the user's back"
    );
    assert!(env.runs().is_empty());
    std::fs::rename(&moved, &path).unwrap();
    wait_for("the daemon resumes", || env.hitl(&["status"]).0 == 0);
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.hitl(&["audit", "verify"]).0, 0);
}

/// The daemon in its own mount namespace with a tiny tmpfs as its state
/// folder, so the disk can really fill up. CLI calls enter the namespace.
struct FullDisk<'a> {
    env: &'a Env,
    daemon: Child,
}

impl<'a> FullDisk<'a> {
    /// `None` (after saying why) where mount namespaces are unavailable.
    fn start(env: &'a Env) -> Option<FullDisk<'a>> {
        std::fs::create_dir_all(&env.state).unwrap();
        let script = format!(
            "set -e\nmount -t tmpfs -o size=256k,mode=0700 tmpfs {s}\nexec {BIN} run",
            s = env.state.display()
        );
        let scratch = env.dir.path().join("mount-probe");
        std::fs::create_dir_all(&scratch).unwrap();
        let probe = Command::new("unshare")
            .args(["-m", "mount", "-t", "tmpfs", "tmpfs"])
            .arg(&scratch)
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            eprintln!(
                "SKIPPED a_full_disk_stops_new_work_with_a_reason_and_resumes_when_space_is_freed: \
                 cannot mount a tmpfs in a private mount namespace here (needs root and `unshare`)"
            );
            return None;
        }
        let log = std::fs::File::create(env.log_path()).unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "sh", "-c", &script]).stderr(log);
        copy_env(env, &mut cmd);
        let daemon = cmd.spawn().unwrap();
        let disk = FullDisk { env, daemon };
        wait_for("daemon up in its namespace", || {
            disk.hitl(&["status"]).0 == 0
        });
        Some(disk)
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        let pid = self.daemon.id().to_string();
        cmd.args(["-t", &pid, "-m", "--", program]);
        copy_env(self.env, &mut cmd);
        cmd.stdin(Stdio::null());
        cmd
    }

    fn hitl(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command(BIN).args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn filler(&self) -> PathBuf {
        self.env.state.join("filler")
    }

    fn fill(&self) {
        let of = format!("of={}", self.filler().display());
        // dd stops with "No space left on device": that is the point.
        let _ = self
            .command("dd")
            .args(["if=/dev/zero", &of, "bs=4k"])
            .stderr(Stdio::null())
            .status();
    }

    fn free(&self) {
        let status = self.command("rm").arg(self.filler()).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for FullDisk<'_> {
    fn drop(&mut self) {
        unsafe { libc::kill(self.daemon.id() as i32, libc::SIGTERM) };
        let _ = self.daemon.wait();
    }
}

fn copy_env(env: &Env, cmd: &mut Command) {
    for (k, v) in env.cmd().get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
}

fn wait_for_note(env: &Env, id: &str, text: &str) -> String {
    crate::util::wait_for_some("note text", || {
        let note = std::fs::read_to_string(env.note_path(id)?).ok()?;
        note.contains(text).then_some(note)
    })
}

#[test]
fn a_full_disk_stops_new_work_with_a_reason_and_resumes_when_space_is_freed() {
    let env = Env::new("");
    let Some(disk) = FullDisk::start(&env) else {
        return;
    };
    let (code, out, err) = disk.hitl(&["request", "payment", "--set", "amount=1500"]);
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_string();
    env.wait_note(&id, "Pending_Approval", "pending");
    disk.fill();
    // Bigger than a page, so the append needs room the disk no longer has.
    let big = format!("memo={}", "x".repeat(10_000));
    let (code, _, err) = disk.hitl(&["request", "payment", "--set", "amount=900", "--set", &big]);
    assert_eq!(code, 1, "the submit is refused: {err}");
    assert!(
        err.contains("disk is full") && err.contains("Nothing journaled is lost"),
        "{err}"
    );
    assert!(!err.contains("move it aside"), "{err}");
    let (code, out, _) = disk.hitl(&["status"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DEGRADED") && out.contains("disk is full"),
        "{out}"
    );
    let (code, _, err) = disk.hitl(&["approve", &id]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not taking new work"), "{err}");
    // A decision made in the vault meanwhile is taken once the disk has room.
    env.edit(&id, |t| t.replace("- [ ] Approve", "- [x] Approve"));
    assert!(
        env.runs().is_empty(),
        "no handler started during the outage"
    );
    let journal = disk
        .command("cat")
        .arg(env.state.join("journal.jsonl"))
        .output()
        .unwrap();
    let journal = String::from_utf8_lossy(&journal.stdout);
    assert!(
        journal.contains(&id) && !journal.contains("\"approved\""),
        "{journal}"
    );
    disk.free();
    wait_for("the daemon resumes", || disk.hitl(&["status"]).0 == 0);
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
    let (code, _, err) = disk.hitl(&["request", "payment", "--set", "amount=900", "--set", &big]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = disk.hitl(&["audit", "verify"]);
    assert_eq!(code, 0, "no half-written line was left: {out}{err}");
}

/// Takes the immutable flag off again, whatever the test's outcome, so the
/// temporary folder can be removed.
struct Immutable(PathBuf);

impl Immutable {
    /// `None` (after saying why) where the file system has no such flag.
    fn set(path: &Path) -> Option<Immutable> {
        let out = Command::new("chattr").arg("+i").arg(path).output();
        match out {
            Ok(o) if o.status.success() => Some(Immutable(path.to_path_buf())),
            other => {
                eprintln!(
                    "SKIPPED a_journal_that_is_not_writable_stops_new_work_and_resumes: `chattr +i` is not available here: {other:?}"
                );
                None
            }
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn a_journal_that_is_not_writable_stops_new_work_and_resumes() {
    let (env, id) = Env::with_pending_payment();
    let path = env.state.join("journal.jsonl");
    let Some(flag) = Immutable::set(&path) else {
        return;
    };
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("not permitted") && err.contains("Nothing journaled is lost"),
        "{err}"
    );
    let (code, out, _) = env.hitl(&["status"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("DEGRADED"), "{out}");
    assert!(env.runs().is_empty());
    assert_eq!(env.events(&id), ["submitted"]);
    drop(flag);
    wait_for("the daemon resumes", || env.hitl(&["status"]).0 == 0);
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn a_handler_result_that_cannot_be_journaled_is_held_until_it_can() {
    let (env, id) = running("slow");
    let Some(flag) = Immutable::set(&env.state.join("journal.jsonl")) else {
        return;
    };
    // The handler ends (3 s) while the journal can't take its result.
    wait_for("the result could not be journaled", || {
        env.hitl(&["status"]).1.contains("DEGRADED")
    });
    assert_eq!(env.events(&id), ["submitted", "approved", "executing"]);
    drop(flag);
    env.wait_note(&id, "Done", "executed");
    assert_eq!(
        env.events(&id),
        ["submitted", "approved", "executing", "executed"]
    );
    assert_eq!(env.runs().len(), 1);
}
