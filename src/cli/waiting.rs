//! `hitl wait`: blocks until a request is settled. The journal is read
//! first, so an unknown id is an error at once; with the daemon down it
//! says so on stderr and keeps trying; on a terminal a spinner shows what
//! it waits for and the time left.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::place::{ERROR, Place, WAIT_TIMED_OUT, replay, resolve};
use super::{output, style};
use crate::ipc::{self, Command};

/// What is known of the request before waiting.
struct Known {
    id: String,
    /// Its exit code, if it is settled already.
    settled: Option<u8>,
    what: String,
}

/// How a wait ended.
enum Ended {
    Reply(ipc::Reply),
    /// Settled in the journal while the daemon was down: its exit code.
    Settled(u8),
    TimedOut,
}

pub(crate) fn wait(p: &Place, prefix: &str, timeout: Option<Duration>, json: bool) -> Result<u8> {
    Command::Wait {
        id: prefix.to_string(),
    }
    .validate()?;
    let known = match look_up(p, prefix) {
        // An agent run as its own user can't read the journal: the
        // daemon's answer is all it gets (and all it needs).
        Err(e) if denied(&e) => Known {
            id: prefix.to_string(),
            settled: None,
            what: format!("request {prefix}"),
        },
        known => known?,
    };
    if let Some(code) = known.settled {
        return Ok(report_settled(p, &known.id, code, json));
    }
    let bar = spinner(&known.what, timeout);
    let ended = poll(p, &known, timeout, &bar);
    bar.finish_and_clear();
    match ended? {
        Ended::Reply(r) => {
            let (id, status, code) = match &r {
                ipc::Reply::Request {
                    id,
                    status,
                    exit_code,
                } => (id.clone(), status.clone().unwrap_or_default(), *exit_code),
                _ => (known.id.clone(), String::new(), None),
            };
            let code = code.unwrap_or(1);
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                eprintln!("{id}: {status}");
            }
            Ok(u8::try_from(code).unwrap_or(ERROR))
        }
        Ended::Settled(code) => Ok(report_settled(p, &known.id, code, json)),
        Ended::TimedOut => Ok(timed_out(p, &known.id, json)),
    }
}

/// Whether `e` comes from a file this user may not read.
fn denied(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
    }) || e.to_string().contains("Permission denied")
}

/// Asks the daemon to answer when the request settles; with the daemon
/// down, says so once and retries every half second.
fn poll(p: &Place, known: &Known, timeout: Option<Duration>, bar: &ProgressBar) -> Result<Ended> {
    let start = Instant::now();
    let cmd = Command::Wait {
        id: known.id.clone(),
    };
    let mut told_down = false;
    loop {
        let left = timeout.map(|t| t.saturating_sub(start.elapsed()));
        if left == Some(Duration::ZERO) {
            return Ok(Ended::TimedOut);
        }
        match ipc::call(&p.state_dir, &cmd, left) {
            Ok(r @ ipc::Reply::Request { .. }) => return Ok(Ended::Reply(r)),
            Ok(r) => bail!("{}", r.refusal().unwrap_or_else(|| "refused".into())),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Ended::TimedOut);
            }
            Err(e) if ipc::is_down(&e) => {
                if let Some(code) = look_up(p, &known.id).ok().and_then(|k| k.settled) {
                    return Ok(Ended::Settled(code));
                }
                if !told_down {
                    bar.suspend(|| {
                        eprintln!(
                            "hitl: the daemon is not running; waiting for it to start ({} is {})",
                            known.id, known.what
                        )
                    });
                    told_down = true;
                    bar.set_prefix("daemon down; ");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e).context("talking to the daemon"),
        }
    }
}

/// The request in the journal, or in the inbox (queued while the daemon is
/// down); otherwise an error at once.
fn look_up(p: &Place, prefix: &str) -> Result<Known> {
    // The inbox first: the daemon journals an entry before it removes it,
    // so one that is gone from the inbox by now is in the journal.
    let queued = ipc::inbox_dir(&p.state_dir)
        .join(format!("{prefix}.json"))
        .exists();
    let m = replay(p)?;
    if let Ok(id) = m.resolve_id(prefix) {
        let r = &m.requests()[&id];
        let settled = r
            .status
            .exit_code()
            .map(|c| u8::try_from(c).unwrap_or(ERROR));
        let what = format!(
            "{} {}: {}",
            r.status.name(),
            output::shown(&r.sub.action),
            output::shown(&r.sub.summary)
        );
        return Ok(Known { id, settled, what });
    }
    if queued {
        return Ok(Known {
            id: prefix.to_string(),
            settled: None,
            what: "queued in the inbox".into(),
        });
    }
    match resolve(&m, prefix) {
        Err(e) => Err(e),
        Ok(_) => bail!("no request matches `{prefix}`"),
    }
}

fn report_settled(p: &Place, id: &str, code: u8, json: bool) -> u8 {
    let status = replay(p)
        .ok()
        .and_then(|m| m.requests().get(id).map(|r| r.status.name()))
        .unwrap_or("settled");
    if json {
        println!(
            "{}",
            serde_json::json!({ "ok": true, "id": id, "status": status, "exit_code": code })
        );
    } else {
        eprintln!("{id}: {status}");
    }
    code
}

/// The wait's own timeout passed; the request is still open. The JSON
/// names the wait's outcome apart from the request's status.
fn timed_out(p: &Place, id: &str, json: bool) -> u8 {
    let status = replay(p)
        .ok()
        .and_then(|m| m.requests().get(id).map(|r| r.status.name()))
        .unwrap_or("pending");
    if json {
        println!(
            "{}",
            serde_json::json!({ "id": id, "status": status, "wait": "timed_out", "exit_code": WAIT_TIMED_OUT })
        );
    } else {
        eprintln!("{id}: still {status}; the wait timed out");
    }
    WAIT_TIMED_OUT
}

/// A spinner on stderr with what is awaited and the time left; hidden when
/// stderr is not a terminal.
fn spinner(what: &str, timeout: Option<Duration>) -> ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let left = move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
        let text = match timeout {
            Some(t) => format!(
                "{} left",
                style::span(t.saturating_sub(s.elapsed()).as_secs() as i64)
            ),
            None => format!("{} so far", style::span(s.elapsed().as_secs() as i64)),
        };
        let _ = w.write_str(&text);
    };
    let template = ProgressStyle::with_template("{spinner} {prefix}waiting for {msg} ({left})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key("left", left);
    let bar =
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(template);
    let mut msg = String::new();
    let _ = write!(msg, "{what}");
    bar.set_message(msg);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
