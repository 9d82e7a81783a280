//! Test harness: a real temporary vault and state folder, the real `hitl`
//! binary, and a real handler script that records every run.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub vault: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    pub runs: PathBuf,
    daemon: Option<Child>,
}

pub const BIN: &str = env!("CARGO_BIN_EXE_hitl");

/// Handlers for `payment` (succeeds) and `refund` (exits 3), both recording
/// each run as `id|action|idempotency key|decided by|payload` in runs.log.
pub fn handlers(dir: &Path) -> String {
    let script = dir.join("handler.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\npayload=$(cat)\necho \"$HITL_REQUEST_ID|$HITL_ACTION|$HITL_IDEMPOTENCY_KEY|$HITL_DECIDED_BY|$payload\" >> {}\nsleep ${{HANDLER_SLEEP:-0}}\necho \"handled $HITL_REQUEST_ID\"\nexit ${{HANDLER_EXIT:-0}}\n",
            dir.join("runs.log").display()
        ),
    )
    .unwrap();
    let s = script.display();
    format!(
        "handlers:\n  payment: {{ command: [/bin/sh, {s}] }}\n  refund: {{ command: [/bin/sh, {s}], env: {{ HANDLER_EXIT: \"3\" }} }}\n  slow: {{ command: [/bin/sh, {s}], env: {{ HANDLER_SLEEP: \"3\" }} }}\n  slow_idem: {{ command: [/bin/sh, {s}], env: {{ HANDLER_SLEEP: \"3\" }}, idempotent: true }}\n"
    )
}

impl Env {
    /// A vault and state folder, with `extra` appended to a config that has
    /// the test handlers.
    pub fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault");
        // `hitl run` refuses a vault that doesn't exist (issue 8.2).
        std::fs::create_dir_all(&vault).unwrap();
        let state = dir.path().join("state");
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, format!("{}{extra}", handlers(dir.path()))).unwrap();
        let runs = dir.path().join("runs.log");
        Env {
            dir,
            vault,
            state,
            config,
            runs,
            daemon: None,
        }
    }

    /// A running daemon with one pending payment of 1500; returns its id.
    pub fn with_pending_payment() -> (Env, String) {
        let mut env = Env::new("");
        env.start();
        let id = env.pay(1500);
        env.wait_note(&id, "Pending_Approval", "pending");
        (env, id)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("HITL_VAULT", &self.vault)
            .env("HITL_STATE_DIR", &self.state)
            .env("HITL_CONFIG", &self.config)
            .env("HOME", self.dir.path())
            .env("USER", "tester")
            .env("RUST_LOG", "hitl=debug")
            .stdin(Stdio::null());
        c
    }

    /// Runs `hitl ARGS`, returning (exit code, stdout, stderr).
    pub fn hitl(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn start(&mut self) {
        self.start_env(&[]);
    }

    /// Starts the daemon with extra environment variables.
    pub fn start_env(&mut self, extra: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = self
            .cmd()
            .envs(extra.iter().copied())
            .arg("run")
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        wait_for("daemon up", || self.hitl(&["status"]).0 == 0);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let status = child.wait().unwrap();
            assert!(status.success(), "daemon exit: {status}\n{}", self.log());
        }
    }

    pub fn pid(&self) -> i32 {
        self.daemon.as_ref().expect("daemon running").id() as i32
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        let mut child = self.daemon.take().expect("daemon running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Replaces the config (the test handlers stay).
    pub fn set_config(&self, extra: &str) {
        std::fs::write(
            &self.config,
            format!("{}{extra}", handlers(self.dir.path())),
        )
        .unwrap();
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Submits and returns the id.
    pub fn request(&self, args: &[&str]) -> String {
        let mut all = vec!["request"];
        all.extend_from_slice(args);
        let (code, out, err) = self.hitl(&all);
        assert_eq!(code, 0, "request failed: {err}");
        out.trim().to_string()
    }

    pub fn pay(&self, amount: u32) -> String {
        self.request(&[
            "payment",
            "--payload",
            &format!(r#"{{"amount":{amount},"recipient":"vendor@example.com","currency":"USD"}}"#),
        ])
    }

    pub fn folder(&self, name: &str) -> PathBuf {
        self.vault.join(name)
    }

    /// The path of the note carrying `hitl_id: id`, in any folder.
    pub fn note_path(&self, id: &str) -> Option<PathBuf> {
        for dir in self.note_dirs() {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if !e.file_type().is_ok_and(|t| t.is_file()) {
                    continue; // a FIFO would block this read
                }
                if e.file_name().to_string_lossy().starts_with('.') {
                    continue; // the daemon's temp file, renamed in a moment
                }
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                // An all-digit id is written quoted, as YAML would read it as a number.
                if text.contains(&format!("hitl_id: {id}\n"))
                    || text.contains(&format!("hitl_id: \"{id}\"\n"))
                {
                    return Some(e.path());
                }
            }
        }
        None
    }

    pub fn note(&self, id: &str) -> String {
        // A note can move (to Done/) between finding and reading it.
        wait_for_some("note exists", || {
            std::fs::read_to_string(self.note_path(id)?).ok()
        })
    }

    /// Waits until the note is in `folder` with `status: status`.
    pub fn wait_note(&self, id: &str, folder: &str, status: &str) -> String {
        let want = format!("status: {status}\n");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self.note_path(id).and_then(|p| {
                let text = std::fs::read_to_string(&p).ok()?;
                // Done/ holds its notes in a folder per month.
                let dir = p.parent()?;
                let inside = dir == self.folder(folder)
                    || (folder == "Done" && dir.parent()? == self.folder(folder));
                (inside && text.contains(&want)).then_some(text)
            });
            if let Some(text) = found {
                return text;
            }
            if Instant::now() > deadline {
                let note = self.note_path(id).map(|p| {
                    format!(
                        "{}:\n{}",
                        p.display(),
                        std::fs::read_to_string(&p).unwrap_or_default()
                    )
                });
                panic!(
                    "timed out waiting for {id} {status} in {folder}\nnote: {note:?}\nlog:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn journal(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.state.join("journal.jsonl")).unwrap_or_default();
        // Only complete lines: the daemon may be appending right now.
        text.split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The journal's event names for one request.
    pub fn events(&self, id: &str) -> Vec<String> {
        self.journal()
            .into_iter()
            .filter(|e| e["request"] == id)
            .map(|e| e["event"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn runs(&self) -> Vec<String> {
        std::fs::read_to_string(&self.runs)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Edits a note in place, as an editor would (write, close).
    pub fn edit(&self, id: &str, f: impl Fn(String) -> String) {
        let p = self.note_path(id).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, f(text)).unwrap();
    }

    pub fn mv(&self, id: &str, folder: &str) {
        let p = self.note_path(id).unwrap();
        std::fs::rename(&p, self.folder(folder).join(p.file_name().unwrap())).unwrap();
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    wait_for_some(what, || f().then_some(()));
}

/// Polls (test side only) until `f` gives a value, or fails after 15 s.
pub fn wait_for_some<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The actor the daemon records for this test process's user: named from
/// the socket peer's uid, whatever `$USER` says.
pub fn me() -> String {
    let uid = unsafe { libc::getuid() };
    let pw = unsafe { libc::getpwuid(uid) };
    if pw.is_null() {
        return format!("cli:uid{uid}");
    }
    let name = unsafe { std::ffi::CStr::from_ptr((*pw).pw_name) };
    format!("cli:{}", name.to_string_lossy())
}

impl Env {
    /// Starts the daemon with at most `n` open files (soft and hard), so
    /// the limits it derives from them are small enough to reach in a test.
    pub fn start_with_fd_limit(&mut self, n: u64) {
        self.start_env_with_fd_limit(n, &[]);
    }
}

/// A daemon killed with SIGKILL while the handler of a fresh, approved
/// `action` request runs (the daemon is down on return); returns its id.
pub fn crashed_while_running(action: &str) -> (Env, String) {
    let (mut env, id) = running(action);
    env.kill9();
    (env, id)
}

/// A daemon whose fresh, approved `action` request has its handler running.
pub fn running(action: &str) -> (Env, String) {
    let mut env = Env::new("");
    env.start();
    let id = env.request(&[action]);
    env.hitl(&["approve", &id]);
    wait_for("handler started", || env.runs().len() == 1);
    (env, id)
}

impl Env {
    /// The folders notes can be in: the four, and each month of Done/.
    pub fn note_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = ["Pending_Approval", "Approved", "Rejected", "Done"]
            .iter()
            .map(|f| self.folder(f))
            .collect();
        let months = std::fs::read_dir(self.folder("Done")).into_iter().flatten();
        dirs.extend(
            months
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
        dirs
    }
}

/// A test whose outside tool (dbus-daemon, aiosmtpd, openssl) is missing:
/// skipped with a line saying why on a developer's machine, but a failure
/// where `.ci/run` installed the tools (`HITL_REQUIRE_TOOLS=1`), so CI can
/// never pass without running it.
pub fn missing_tool(why: &str) {
    if std::env::var_os("HITL_REQUIRE_TOOLS").is_some() {
        panic!("{why} (HITL_REQUIRE_TOOLS is set: .ci/run installs the tools the tests need)");
    }
    println!("SKIPPED: {why}");
}

impl Env {
    /// Approves `id` in the vault once its note is pending: the note is
    /// moved to `Approved/`.
    pub fn approve_by_move(&self, id: &str) {
        self.wait_note(id, "Pending_Approval", "pending");
        self.mv(id, "Approved");
    }

    /// Rejects `id` from the CLI with `reason`.
    pub fn reject_with(&self, id: &str, reason: &str) {
        let (code, _, err) = self.hitl(&["reject", id, "--reason", reason]);
        assert_eq!(code, 0, "{err}");
    }
}

/// A running daemon whose rule holds approved payments for `grace` (the
/// undo window), and a payment of 1500 approved from the CLI into it;
/// returns its id.
pub fn approved_into_undo_window(grace: &str) -> (Env, String) {
    let mut env = Env::new(&format!(
        "rules:\n  - {{ name: later, when: {{ type: payment }}, decision: require, grace: {grace} }}\n"
    ));
    env.start();
    let id = env.pay(1500);
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    (env, id)
}

/// The daemon restarted cleanly, and from the checkpoint its stop wrote.
pub fn restart_from_checkpoint(env: &mut Env) {
    env.stop();
    assert!(
        env.state.join("checkpoint").exists(),
        "a clean stop writes a checkpoint"
    );
    env.start();
    wait_for("the checkpoint used", || {
        env.log().contains("state loaded from the checkpoint")
    });
}

impl Env {
    /// Starts the daemon with every note write failing (as on a full
    /// disk) while the returned file exists: remove it to free the disk.
    pub fn start_with_note_writes_failing(&mut self) -> std::path::PathBuf {
        let full = self.dir.path().join("disk-full");
        std::fs::write(&full, "").unwrap();
        let spec = format!("note-write=return({})", full.display());
        self.start_env(&[("FAILPOINTS", spec.as_str())]);
        full
    }
}

impl Env {
    /// Waits (up to 15 s) for the daemon to exit on its own; its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.daemon.take().expect("daemon running");
        wait_for_some("the daemon exited", || child.try_wait().unwrap())
    }
}

impl Env {
    /// [`Env::start_with_fd_limit`] with extra environment variables.
    pub fn start_env_with_fd_limit(&mut self, n: u64, extra: &[(&str, &str)]) {
        use std::os::unix::process::CommandExt;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut cmd = self.cmd();
        cmd.envs(extra.iter().copied()).arg("run").stderr(log);
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                Ok(())
            });
        }
        self.daemon = Some(cmd.spawn().unwrap());
        wait_for("daemon up", || self.hitl(&["status"]).0 == 0);
    }
}
