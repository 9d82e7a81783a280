//! Asking the daemon about one tool call and waiting for its outcome.
//!
//! [`ask`] is the one door: it submits (or, for a resumed call, finds the
//! request made for it before), waits up to a bound, and returns the
//! [`Outcome`]: the status, who decided and why. The status is the
//! daemon's reply; the socket's replies carry nothing more yet, so who
//! decided and why are read from the journal, for the words only (the
//! agent can write that file). When the daemon's reply carries the whole
//! outcome, only [`outcome`] changes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::Config;
use crate::ipc::{self, Command, Reply, Submit};
use crate::machine::Machine;

/// How a request ended, as far as the asker needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub id: String,
    /// `approved`, `executed`, `rejected`, `expired`, ...
    pub status: String,
    /// `cli:alice`, `vault`, `rule:NAME`; `None` without a decision.
    pub decided_by: Option<String>,
    /// The decision's reason, if one was given.
    pub reason: Option<String>,
    /// Settled when submitted: the rules decided, whatever the journal says.
    pub at_submit: bool,
}

/// What asking came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// Decided (or otherwise settled) within the wait.
    Settled(Outcome),
    /// Not decided within the wait. `withdrawn`: hitl cancelled it, so a
    /// late approval can't be taken for one the agent acted on.
    Undecided { id: String, withdrawn: bool },
}

/// One question to the daemon.
pub struct Question<'a> {
    pub submit: Submit,
    /// How long to wait for a decision.
    pub wait: Duration,
    /// Look for a request made for this same call before (a resumed
    /// session asks again) before submitting a new one.
    pub resume: bool,
    /// When the wait runs out, withdraw the request.
    pub withdraw: bool,
    pub config: &'a Arc<Config>,
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("the hitl daemon is not running (start it: hitl run or systemctl --user start hitl)")]
    Down,
    #[error("hitl refused the request: {0}")]
    Refused(String),
    #[error("talking to the hitl daemon: {0}")]
    Io(std::io::Error),
    #[error("reading the hitl journal: {0}")]
    Journal(String),
}

fn io(e: std::io::Error) -> AskError {
    if ipc::is_down(&e) {
        AskError::Down
    } else {
        AskError::Io(e)
    }
}

pub fn ask(state_dir: &Path, q: Question<'_>) -> Result<Asked, AskError> {
    let start = Instant::now();
    let earlier = if q.resume {
        earlier_request(state_dir, q.config, &q.submit)?
    } else {
        None
    };
    // The status is always the daemon's word; the journal only words it.
    let (id, status) = match earlier {
        Some(id) => (id, "pending".to_string()),
        None => submit(state_dir, q.submit)?,
    };
    if status != "pending" {
        let mut o = outcome(state_dir, q.config, &id, status);
        o.at_submit = true;
        return Ok(Asked::Settled(o));
    }
    let left = q.wait.saturating_sub(start.elapsed());
    if let Some(status) = wait(state_dir, &id, left)? {
        return Ok(Asked::Settled(outcome(state_dir, q.config, &id, status)));
    }
    if !q.withdraw {
        return Ok(Asked::Undecided {
            id,
            withdrawn: false,
        });
    }
    match ipc::call(state_dir, &Command::Cancel { id: id.clone() }, None).map_err(io)? {
        Reply::Request { status, .. } if status.as_deref() == Some("cancelled") => {
            Ok(Asked::Undecided {
                id,
                withdrawn: true,
            })
        }
        // Decided in the meantime: that decision stands.
        _ => match wait(state_dir, &id, SETTLED_REPLY)? {
            Some(status) => Ok(Asked::Settled(outcome(state_dir, q.config, &id, status))),
            None => Ok(Asked::Undecided {
                id,
                withdrawn: false,
            }),
        },
    }
}

/// How long a settled request's wait reply may take.
const SETTLED_REPLY: Duration = Duration::from_secs(5);

fn submit(state_dir: &Path, s: Submit) -> Result<(String, String), AskError> {
    let cmd = Command::Submit(s);
    cmd.validate()
        .map_err(|e| AskError::Refused(e.to_string()))?;
    match ipc::call(state_dir, &cmd, None).map_err(io)? {
        Reply::Request { id, status, .. } => Ok((id, status.unwrap_or_default())),
        r => Err(AskError::Refused(r.refusal().unwrap_or_default())),
    }
}

/// Waits until the request settles: its status if it did within `left`.
fn wait(state_dir: &Path, id: &str, left: Duration) -> Result<Option<String>, AskError> {
    if left.is_zero() {
        return Ok(None);
    }
    let cmd = Command::Wait { id: id.to_string() };
    match ipc::call(state_dir, &cmd, Some(left)) {
        Ok(Reply::Request { status, .. }) => Ok(Some(status.unwrap_or_default())),
        Ok(r) => Err(AskError::Refused(r.refusal().unwrap_or_default())),
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

fn replay(state_dir: &Path, config: &Arc<Config>) -> Result<Machine, AskError> {
    let records = crate::journal::read(&state_dir.join("journal.jsonl"))
        .map_err(|e| AskError::Journal(e.to_string()))?;
    Machine::replay(config.clone(), records.iter().map(|r| &r.event))
        .map_err(|e| AskError::Journal(e.to_string()))
}

/// The daemon's `status`, with who decided and why from the journal
/// (words only: nothing is allowed or denied on what the journal says).
pub fn outcome(state_dir: &Path, config: &Arc<Config>, id: &str, status: String) -> Outcome {
    let decision = replay(state_dir, config).ok().and_then(|m| {
        let d = m.get(id)?.decision()?.clone();
        Some((d.by, d.reason))
    });
    let (decided_by, reason) = decision.unzip();
    Outcome {
        id: id.to_string(),
        status,
        decided_by,
        reason: reason.flatten(),
        at_submit: false,
    }
}

/// The newest request made for exactly this call before: the same action
/// and payload, which holds the call's id and session (so an approval of
/// one call is never taken for another).
fn earlier_request(
    state_dir: &Path,
    config: &Arc<Config>,
    s: &Submit,
) -> Result<Option<String>, AskError> {
    if !s
        .payload
        .pointer("/_hook/call_id")
        .is_some_and(Value::is_string)
    {
        return Ok(None);
    }
    let sha = crate::payload::sha256(&s.payload);
    let m = replay(state_dir, config)?;
    Ok(m.requests()
        .values()
        .filter(|r| r.sub.action == s.action && r.sub.payload_sha256 == sha)
        .max_by_key(|r| r.sub.created)
        .map(|r| r.id.clone()))
}
