//! Handler runs: argv (never a shell), a scrubbed environment, the journal's
//! payload on stdin, a timeout that ends the whole process group, and
//! captured output (the head for the note, the rest in the state folder).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::request::RunResult;

/// How much output the note shows.
pub const NOTE_HEAD: usize = 4096;
/// How much output is kept at all, per stream.
const KEEP: usize = 8 * 1024 * 1024;
/// Variables passed through from the daemon's environment.
const PASS_ENV: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ"];

/// Everything one handler run needs.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub action: String,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    pub payload_json: String,
    pub decided_by: String,
    /// Where the full output goes.
    pub output_path: PathBuf,
    /// Turns `true` when hitl stops and the handler must be ended.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    pub result: RunResult,
    /// hitl ended it on shutdown: its outcome is unknown.
    pub interrupted: bool,
}

pub async fn run(mut job: Job) -> Ran {
    let started = Instant::now();
    let mut child = match command(&job).spawn() {
        Ok(c) => c,
        Err(e) => {
            let result = failed_to_start(&job, e, started);
            return Ran {
                result,
                interrupted: false,
            };
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let payload = job.payload_json.clone();
        tokio::spawn(async move {
            // A handler that doesn't read its stdin is fine: ignore EPIPE.
            let _ = stdin.write_all(payload.as_bytes()).await;
        });
    }
    let out = tokio::spawn(read_capped(child.stdout.take()));
    let err = tokio::spawn(read_capped(child.stderr.take()));
    let (status, ended) = wait_or_end(&mut child, job.timeout, &mut job.stop).await;
    let (stdout, stderr) = (collect(out).await, collect(err).await);
    let (output, truncated) = keep_output(&job, &stdout, &stderr);
    let error = ended.map(|e| match e {
        Ended::TimedOut => format!(
            "timed out after {:?}; its process group was ended",
            job.timeout
        ),
        Ended::Stopped => "hitl was stopped while it ran; its process group was ended".to_string(),
    });
    let result = RunResult {
        exit_code: if ended.is_some() {
            None
        } else {
            status.and_then(|s| s.code())
        },
        duration_ms: started.elapsed().as_millis() as u64,
        output,
        truncated,
        error,
    };
    Ran {
        result,
        interrupted: ended == Some(Ended::Stopped),
    }
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
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    cmd
}

/// Waits for the handler to exit, or ends its process group (SIGTERM, then
/// SIGKILL two seconds later) on timeout or when hitl stops.
async fn wait_or_end(
    child: &mut Child,
    timeout: Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> (Option<ExitStatus>, Option<Ended>) {
    let pgid = child.id().map(|p| p as i32);
    let stopped = async {
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let ended = tokio::select! {
        s = tokio::time::timeout(timeout, child.wait()) => match s {
            Ok(s) => return (s.ok(), None),
            Err(_) => Ended::TimedOut,
        },
        _ = stopped => Ended::Stopped,
    };
    signal_group(pgid, libc::SIGTERM);
    let status = match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(s) => s.ok(),
        Err(_) => {
            signal_group(pgid, libc::SIGKILL);
            child.wait().await.ok()
        }
    };
    (status, Some(ended))
}

/// A stream's captured bytes; a grandchild holding the pipe open doesn't
/// hold the result up for more than two seconds.
async fn collect(h: tokio::task::JoinHandle<Vec<u8>>) -> Vec<u8> {
    tokio::time::timeout(Duration::from_secs(2), h)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// The head of the output for the note, and whether it was cut; the whole
/// of it goes to the state folder when it was.
fn keep_output(job: &Job, stdout: &[u8], stderr: &[u8]) -> (String, bool) {
    let mut full = String::from_utf8_lossy(stdout).into_owned();
    if !stderr.is_empty() {
        full.push_str("\n--- stderr ---\n");
        full.push_str(&String::from_utf8_lossy(stderr));
    }
    let truncated = full.len() > NOTE_HEAD;
    if truncated || stdout.len() >= KEEP || stderr.len() >= KEEP {
        if let Some(dir) = job.output_path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&job.output_path, &full);
    }
    (head(&full, NOTE_HEAD).to_string(), truncated)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ended {
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

fn signal_group(pgid: Option<i32>, sig: i32) {
    if let Some(pgid) = pgid.filter(|p| *p > 0) {
        // SAFETY: killpg has no memory-safety preconditions; a stale pgid
        // fails with ESRCH, which is fine.
        unsafe {
            libc::killpg(pgid, sig);
        }
    }
}

async fn read_capped<R: AsyncRead + Unpin>(stream: Option<R>) -> Vec<u8> {
    let Some(mut stream) = stream else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) if out.len() < KEEP => out.extend_from_slice(&buf[..n.min(KEEP - out.len())]),
            Ok(_) => {} // keep draining so the handler never blocks on a full pipe
        }
    }
}

/// The first `max` bytes of `s`, cut on a character boundary.
fn head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(script: &str, timeout: Duration) -> Job {
        let (tx, stop) = tokio::sync::watch::channel(false);
        std::mem::forget(tx);
        Job {
            stop,
            id: "r1".into(),
            action: "payment".into(),
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: BTreeMap::from([("EXTRA".into(), "yes".into())]),
            timeout,
            payload_json: r#"{"amount":5}"#.into(),
            decided_by: "cli:me".into(),
            output_path: std::env::temp_dir().join("hitl-test-out.log"),
        }
    }

    #[tokio::test]
    async fn passes_payload_and_environment() {
        let r = run(job("cat; echo \" $HITL_REQUEST_ID $HITL_ACTION $HITL_IDEMPOTENCY_KEY $HITL_DECIDED_BY $EXTRA ${SECRET:-scrubbed}\"", Duration::from_secs(10))).await.result;
        assert_eq!(r.exit_code, Some(0));
        assert_eq!(
            r.output.trim(),
            r#"{"amount":5} r1 payment hitl-r1 cli:me yes scrubbed"#
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
        assert!(ran.interrupted);
        assert_eq!(ran.result.exit_code, None);
        assert!(ran.result.error.unwrap().contains("hitl was stopped"));
    }
}
