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
use crate::outcome::RequestOutcome;

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
            let code = match &r {
                ipc::Reply::Request { exit_code, .. } => exit_code.unwrap_or(1),
                _ => 1,
            };
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else if let Some(o) = r.outcome() {
                print_outcome(o);
            } else {
                eprintln!("{}: settled", known.id);
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

/// The outcome for a person, on stderr: one line, then the head of the
/// handler's output.
fn print_outcome(o: &RequestOutcome) {
    eprintln!("{}", o.line());
    if let Some(head) = &o.output_head {
        eprintln!("output:");
        for line in head.lines() {
            eprintln!("  {}", output::shown(line));
        }
        if o.output_truncated {
            eprintln!("  ... (the whole of it: hitl log {})", o.id);
        }
    }
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
        let r = &*super::place::details(p, &m, &id).with_context(|| {
            format!("request {id}: its journal lines can't be read back, so its outcome is unknown")
        })?;
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

/// The request as the journal has it: its outcome.
fn journal_outcome(p: &Place, id: &str) -> Option<RequestOutcome> {
    let m = replay(p).ok()?;
    let r = crate::engine::details::read_request(&p.state_dir, &m, id).ok()??;
    Some(RequestOutcome::of(&r))
}

/// Settled while the daemon was down: the outcome from the journal, in the
/// shape the daemon's reply has.
fn report_settled(p: &Place, id: &str, code: u8, json: bool) -> u8 {
    let outcome = journal_outcome(p, id);
    if json {
        let reply = ipc::Reply::Request {
            id: id.to_string(),
            status: outcome.as_ref().map(|o| o.status.clone()),
            exit_code: Some(i32::from(code)),
            outcome: outcome.map(Box::new),
        };
        println!(
            "{}",
            serde_json::to_string(&reply).expect("replies serialise")
        );
    } else {
        match &outcome {
            Some(o) => print_outcome(o),
            None => eprintln!("{id}: settled"),
        }
    }
    code
}

/// The wait's own timeout passed; the request is still open. The JSON
/// names the wait's outcome apart from the request's status.
fn timed_out(p: &Place, id: &str, json: bool) -> u8 {
    let outcome = journal_outcome(p, id);
    if json {
        let mut doc = outcome
            .as_ref()
            .and_then(|o| serde_json::to_value(o).ok())
            .unwrap_or_else(|| serde_json::json!({ "id": id, "status": "pending" }));
        doc["wait"] = "timed_out".into();
        doc["exit_code"] = WAIT_TIMED_OUT.into();
        println!("{doc}");
    } else {
        let status = outcome.as_ref().map_or("pending", |o| o.status.as_str());
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
