//! Handler runs: argv (never a shell), a scrubbed environment, the journal's
//! payload on stdin (a file written before the start, never a cut pipe), a timeout, and captured output (the head for the note,
//! control characters made visible; all of it in the state folder).
//!
//! A run ends only when every process it started is gone ([`reaper`]): on
//! timeout and at shutdown its processes get SIGTERM, then SIGKILL after
//! [`KILL_GRACE`]; what the leader leaves behind when it exits is ended the
//! same way.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::config::HiddenValues;
use crate::request::RunResult;

mod output;
mod procs;
mod reaper;

pub use output::{NOTE_HEAD, head, visible};
pub use reaper::{KILL_GRACE, become_subreaper};

/// Variables passed through from the daemon's environment.
const PASS_ENV: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ"];

/// Everything one handler run needs.
#[derive(Clone)]
pub struct Job {
    pub id: String,
    pub action: String,
    pub command: Vec<String>,
    /// The handler's own variables; may hold secrets, so `Debug` shows only
    /// their names.
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    pub payload_json: String,
    pub decided_by: String,
    /// Where the full output goes.
    pub output_path: PathBuf,
    /// Turns `true` when hitl stops and the handler must be ended.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("action", &self.action)
            .field("command", &self.command)
            .field("env", &HiddenValues(&self.env))
            .field("timeout", &self.timeout)
            .field("payload_json", &self.payload_json)
            .field("decided_by", &self.decided_by)
            .field("output_path", &self.output_path)
            .finish_non_exhaustive()
    }
}

pub use crate::request::{Outcome, Ran};

/// Runs the job; returns once every process of the run is gone.
pub async fn run(mut job: Job) -> Ran {
    let started = Instant::now();
    let spawned = payload_stdin(&job.payload_json).and_then(|stdin| {
        let mut cmd = command(&job);
        cmd.stdin(stdin);
        reaper::Run::spawn(&job.id, &mut cmd)
    });
    let (mut child, mut processes) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            let result = failed_to_start(&job, e, started);
            return Ran {
                outcome: Outcome::SpawnFailed,
                result,
            };
        }
    };
    fail::fail_point!("handler-after-spawn");
    let child_stdout = child.stdout.take();
    let live = job.output_path.clone();
    let out = tokio::spawn(async move { output::read_capped_live(child_stdout, &live).await });
    let err = tokio::spawn(output::read_capped(child.stderr.take()));
    let (status, ending) = wait_or_end(&mut child, job.timeout, &mut job.stop).await;
    let ended = reaper::end_all(&mut child, &mut processes, ending.is_none()).await;
    drop(processes);
    let (stdout, stderr) = (output::collect(out).await, output::collect(err).await);
    let (output, truncated) = output::keep_output(&job.output_path, &stdout, &stderr);
    if ended.others > 0 {
        tracing::info!(request = %job.id, others = ended.others, "ended the processes the handler left behind");
    }
    let result = RunResult {
        exit_code: if ending.is_some() {
            None
        } else {
            status.and_then(|s| s.code())
        },
        duration_ms: started.elapsed().as_millis() as u64,
        output,
        truncated,
        error: why(ending, ended, job.timeout),
    };
    let outcome = match (ending, status.and_then(|s| s.code())) {
        (Some(Ending::TimedOut), _) => Outcome::TimedOut,
        (Some(Ending::Stopped), _) => Outcome::Interrupted,
        (None, Some(code)) => Outcome::Exited(code),
        (None, None) => Outcome::NoExitCode,
    };
    Ran { outcome, result }
}

/// The note's word on how the run ended, when there is one.
fn why(ending: Option<Ending>, ended: reaper::Ended, timeout: Duration) -> Option<String> {
    let others = match ended.others {
        0 => String::new(),
        n => format!(" and the {n} other process(es) it had started"),
    };
    let mut why = match ending {
        Some(Ending::TimedOut) => format!("timed out after {timeout:?}; hitl ended it{others}"),
        Some(Ending::Stopped) => format!("hitl was stopped while it ran; hitl ended it{others}"),
        None if ended.others > 0 => format!(
            "it exited leaving {} process(es) behind; hitl ended them",
            ended.others
        ),
        None => return None,
    };
    if ended.survivors > 0 {
        why.push_str(&format!(
            "; {} process(es) survived SIGKILL (stuck in the kernel?)",
            ended.survivors
        ));
    }
    Some(why)
}

/// argv, a scrubbed environment plus the handler's own and the HITL_*
/// variables, pipes, and a process group of its own.
fn command(job: &Job) -> Command {
    let mut cmd = Command::new(&job.command[0]);
    cmd.args(&job.command[1..])
        .env_clear()
        .envs(
            PASS_ENV
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
        )
        .envs(&job.env)
        .env("HITL_REQUEST_ID", &job.id)
        .env("HITL_ACTION", &job.action)
        .env("HITL_IDEMPOTENCY_KEY", format!("hitl-{}", job.id))
        .env("HITL_DECIDED_BY", &job.decided_by)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    cmd
}

/// The payload as an anonymous in-memory file, written whole and rewound,
/// for the handler's stdin. Not a pipe: if hitl died the moment after the
/// handler started, a pipe would give it an empty or cut payload, and it
/// would act on that; a file holds the whole payload from the start.
fn payload_stdin(payload: &str) -> std::io::Result<std::fs::File> {
    use std::io::{Seek, Write};
    use std::os::fd::FromRawFd;
    // SAFETY: a static NUL-terminated name; the returned fd is checked and
    // then owned by the File alone.
    let fd = unsafe { libc::memfd_create(c"hitl-payload".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(payload.as_bytes())?;
    file.rewind()?;
    Ok(file)
}

/// Waits for the leader to exit, the timeout, or hitl stopping; whichever
/// comes first. Ending the run's processes is [`reaper::end_all`]'s job.
async fn wait_or_end(
    child: &mut Child,
    timeout: Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> (Option<ExitStatus>, Option<Ending>) {
    let stopped = async {
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        s = tokio::time::timeout(timeout, child.wait()) => match s {
            Ok(s) => (s.ok(), None),
            Err(_) => (None, Some(Ending::TimedOut)),
        },
        _ = stopped => (None, Some(Ending::Stopped)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    TimedOut,
    Stopped,
}

fn failed_to_start(job: &Job, e: std::io::Error, started: Instant) -> RunResult {
    RunResult {
        exit_code: None,
        duration_ms: started.elapsed().as_millis() as u64,
        output: String::new(),
        truncated: false,
        error: Some(format!("could not start {}: {e}", job.command[0])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job with an id of its own: tests run side by side in one process,
    /// a subreaper, and runs tell their orphans apart by id.
    fn job(script: &str, timeout: Duration) -> Job {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        become_subreaper();
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, stop) = tokio::sync::watch::channel(false);
        std::mem::forget(tx);
        Job {
            stop,
            id: format!("r{n}"),
            action: "payment".into(),
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: BTreeMap::from([("EXTRA".into(), "yes".into())]),
            timeout,
            payload_json: r#"{"amount":5}"#.into(),
            decided_by: "cli:me".into(),
            // These tests read the note's head only.
            output_path: "/dev/null".into(),
        }
    }

    #[tokio::test]
    async fn passes_payload_and_environment() {
        let j = job(
            "cat; echo \" $HITL_REQUEST_ID $HITL_ACTION $HITL_IDEMPOTENCY_KEY $HITL_DECIDED_BY $EXTRA ${SECRET:-scrubbed}\"",
            Duration::from_secs(10),
        );
        let id = j.id.clone();
        let r = run(j).await.result;
        assert_eq!(r.exit_code, Some(0));
        assert_eq!(
            r.output.trim(),
            format!(r#"{{"amount":5}} {id} payment hitl-{id} cli:me yes scrubbed"#)
        );
    }

    #[tokio::test]
    async fn nonzero_exit_and_stderr() {
        let r = run(job("echo oops >&2; exit 3", Duration::from_secs(10)))
            .await
            .result;
        assert_eq!(r.exit_code, Some(3));
        assert!(r.output.contains("--- stderr ---\noops"), "{}", r.output);
    }

    #[tokio::test]
    async fn timeout_ends_the_process_group() {
        let r = run(job("sleep 30 & sleep 30", Duration::from_millis(300)))
            .await
            .result;
        assert_eq!(r.exit_code, None);
        assert!(r.error.unwrap().contains("timed out"));
        assert!(r.duration_ms < 10_000);
    }

    fn alive(pid: i32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        let exists = unsafe { libc::kill(pid, 0) } == 0;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        exists
            && !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
    }

    fn read_pid(path: &std::path::Path) -> i32 {
        let text = std::fs::read_to_string(path).unwrap();
        text.trim().parse().unwrap()
    }

    #[tokio::test]
    async fn timeout_ends_a_grandchild_that_ignores_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("g.pid");
        let script = format!(
            "sh -c 'trap \"\" TERM; echo $$ > {p}.tmp; mv {p}.tmp {p}; exec sleep 60' & wait",
            p = pidfile.display()
        );
        let r = run(job(&script, Duration::from_millis(1500))).await.result;
        assert!(
            r.error.as_deref().unwrap_or("").contains("timed out"),
            "{r:?}"
        );
        let pid = read_pid(&pidfile);
        assert!(!alive(pid), "grandchild {pid} survived the run");
    }

    #[tokio::test]
    async fn background_processes_a_handler_leaves_are_ended() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("bg.pid");
        let script = format!(
            "sh -c 'echo $$ > {p}.tmp; mv {p}.tmp {p}; exec sleep 60' & while [ ! -e {p} ]; do :; done; echo done",
            p = pidfile.display()
        );
        let r = run(job(&script, Duration::from_secs(20))).await.result;
        assert_eq!(r.exit_code, Some(0), "{r:?}");
        assert!(
            r.error
                .as_deref()
                .unwrap_or("")
                .contains("process(es) behind; hitl ended them"),
            "{r:?}"
        );
        let pid = read_pid(&pidfile);
        assert!(!alive(pid), "background process {pid} survived the run");
    }

    #[tokio::test]
    async fn an_aborted_run_still_kills_its_processes() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("g.pid");
        let script = format!(
            "sh -c 'echo $$ > {p}.tmp; mv {p}.tmp {p}; exec sleep 60' & wait",
            p = pidfile.display()
        );
        let task = tokio::spawn(run(job(&script, Duration::from_secs(60))));
        let deadline = Instant::now() + Duration::from_secs(15);
        while !pidfile.exists() {
            assert!(Instant::now() < deadline, "the grandchild never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
        assert!(task.await.is_err());
        let pid = read_pid(&pidfile);
        while alive(pid) {
            assert!(
                Instant::now() < deadline,
                "grandchild {pid} outlived its aborted run"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn debug_of_a_job_hides_env_values() {
        let mut j = job("true", Duration::from_secs(1));
        j.env
            .insert("PAY_TOKEN".into(), "sk_live_very_secret".into());
        let shown = format!("{j:?}");
        assert!(shown.contains("PAY_TOKEN"), "{shown}");
        assert!(!shown.contains("sk_live_very_secret"), "{shown}");
        assert!(!shown.contains("\"yes\""), "{shown}");
    }

    #[tokio::test]
    async fn missing_program() {
        let mut j = job("", Duration::from_secs(1));
        j.command = vec!["/nonexistent/handler".into()];
        let r = run(j).await.result;
        assert!(
            r.error
                .unwrap()
                .contains("could not start /nonexistent/handler")
        );
    }

    #[tokio::test]
    async fn stop_ends_the_group_and_marks_the_run_interrupted() {
        let (tx, stop) = tokio::sync::watch::channel(false);
        let mut j = job("sleep 30 & sleep 30", Duration::from_secs(60));
        j.stop = stop;
        let run = tokio::spawn(run(j));
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(true).unwrap();
        let ran = run.await.unwrap();
        assert_eq!(ran.outcome, Outcome::Interrupted);
        assert_eq!(ran.result.exit_code, None);
        assert!(ran.result.error.unwrap().contains("hitl was stopped"));
    }
}
