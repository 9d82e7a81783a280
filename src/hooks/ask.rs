//! Asking the daemon about one tool call and waiting for its outcome.
//!
//! [`ask`] is the one door: it submits, waits up to a bound, and returns
//! the daemon's [`RequestOutcome`]: the status, who decided and why. All of
//! it comes from the daemon over the socket; nothing is read from the
//! journal or the vault, which the agent can write. A resumed call (a
//! deferred Claude Code session asking again) submits with the same
//! idempotency key, and the daemon answers with the request made for it
//! before, if it is the same requester's with the same action and payload.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::ipc::{self, Command, Reply, Submit};
use crate::outcome::RequestOutcome;

/// What asking came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Asked {
    /// Decided (or otherwise settled) within the wait.
    Settled(RequestOutcome),
    /// Not decided within the wait. `withdrawn`: hitl cancelled it, so a
    /// late approval can't be taken for one the agent acted on.
    Undecided { id: String, withdrawn: bool },
}

/// One question to the daemon.
pub struct Question {
    /// With a `key` when a resumed call must find its request again.
    pub submit: Submit,
    /// How long to wait for a decision.
    pub wait: Duration,
    /// When the wait runs out, withdraw the request.
    pub withdraw: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("the hitl daemon is not running (start it: hitl run or systemctl --user start hitl)")]
    Down,
    #[error("hitl refused the request: {0}")]
    Refused(String),
    #[error("talking to the hitl daemon: {0}")]
    Io(std::io::Error),
    #[error("the hitl daemon's answer names no request")]
    NotARequest,
}

fn io(e: std::io::Error) -> AskError {
    if ipc::is_down(&e) {
        AskError::Down
    } else {
        AskError::Io(e)
    }
}

pub fn ask(state_dir: &Path, q: Question) -> Result<Asked, AskError> {
    let start = Instant::now();
    let o = submit(state_dir, q.submit)?;
    if o.status != "pending" {
        return Ok(Asked::Settled(o));
    }
    let id = o.id;
    let left = q.wait.saturating_sub(start.elapsed());
    if let Some(o) = wait(state_dir, &id, left)? {
        return Ok(Asked::Settled(o));
    }
    if !q.withdraw {
        return Ok(Asked::Undecided {
            id,
            withdrawn: false,
        });
    }
    let cancel = Command::Cancel {
        id: id.clone(),
        reason: Some("withdrawn: the hook stopped waiting for a decision".into()),
    };
    match ipc::call(state_dir, &cancel, Some(QUICK)).map_err(io)? {
        Reply::Request { status, .. } if status.as_deref() == Some("cancelled") => {
            Ok(Asked::Undecided {
                id,
                withdrawn: true,
            })
        }
        // Decided in the meantime: that decision stands.
        _ => match wait(state_dir, &id, SETTLED_REPLY)? {
            Some(o) => Ok(Asked::Settled(o)),
            None => Ok(Asked::Undecided {
                id,
                withdrawn: false,
            }),
        },
    }
}

/// How long a settled request's wait reply may take.
const SETTLED_REPLY: Duration = Duration::from_secs(4);

/// How long a command answered at once (submit, cancel) may take: a
/// daemon that doesn't answer (stopped, stuck) is an error, which denies.
const QUICK: Duration = Duration::from_secs(4);

/// The outcome in the daemon's reply about a request.
fn outcome(reply: Reply) -> Result<RequestOutcome, AskError> {
    match reply {
        Reply::Request {
            outcome: Some(o), ..
        } => Ok(*o),
        Reply::Request { outcome: None, .. } | Reply::Status(_) => Err(AskError::NotARequest),
        r => Err(AskError::Refused(r.refusal().unwrap_or_default())),
    }
}

fn submit(state_dir: &Path, s: Submit) -> Result<RequestOutcome, AskError> {
    let cmd = Command::Submit(s);
    cmd.validate()
        .map_err(|e| AskError::Refused(e.to_string()))?;
    outcome(ipc::call(state_dir, &cmd, Some(QUICK)).map_err(io)?)
}

/// Waits until the request settles: its outcome if it did within `left`.
fn wait(state_dir: &Path, id: &str, left: Duration) -> Result<Option<RequestOutcome>, AskError> {
    if left.is_zero() {
        return Ok(None);
    }
    let cmd = Command::Wait { id: id.to_string() };
    match ipc::call(state_dir, &cmd, Some(left)) {
        Ok(reply) => outcome(reply).map(Some),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(io(e)),
    }
}
