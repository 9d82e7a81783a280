//! The lifecycle of a request, one arm per legal edge (DESIGN.md):
//!
//! ```text
//! pending ─approved─> approved (final: no handler)
//!         ─approved─> approved, will run ─executing─> executing ─executed─> executed
//!         ─rejected / expired / cancelled / tampered─> final      └failed──> failed
//! approved, will run ─held─> approved, will run (an undo window)
//!                    ─revoked─> rejected | cancelled (in that window)
//! pending ─endorsed / wrong_code─> pending (one approver of several, a bad code)
//! approved, will run | executing ─unknown─> unknown ─executing─> executing (a re-run)
//!                                                   ─resolved──> executed | failed
//! ```

use super::{Decision, Ended, Event, EventKind, RunResult, Status};

/// An event that cannot follow the state it was applied to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{event}` cannot follow `{status}`")]
pub struct BadTransition {
    pub event: &'static str,
    pub status: &'static str,
}

/// The state `ev` leads to from `status`. The event's time and actor are
/// part of what the new state carries (who decided, when it ran).
/// `submitted` creates a request and follows no state.
pub fn next(status: &Status, ev: &Event) -> Result<Status, BadTransition> {
    use EventKind as E;
    use Status as S;
    let decided = |approved: bool, reason: &Option<String>| Decision {
        approved,
        by: ev.actor.to_string(),
        at: ev.time,
        reason: reason.clone(),
    };
    let ended = |decision: &Decision, run: &RunResult| {
        Box::new(Ended {
            decision: decision.clone(),
            executed_at: Some(ev.time),
            run: run.clone(),
        })
    };
    Ok(match (status, &ev.kind) {
        (
            S::Pending,
            E::Approved {
                reason,
                runs_handler: false,
                ..
            },
        ) => S::Approved {
            decision: decided(true, reason),
        },
        (
            S::Pending,
            E::Approved {
                reason,
                runs_handler: true,
                ..
            },
        ) => S::ApprovedToRun {
            decision: decided(true, reason),
        },
        (S::Pending, E::Rejected { reason, .. }) => S::Rejected {
            decision: decided(false, reason),
        },
        (S::Pending, E::Endorsed { .. } | E::WrongCode { .. }) => S::Pending,
        (S::ApprovedToRun { decision }, E::Held { .. }) => S::ApprovedToRun {
            decision: decision.clone(),
        },
        (
            S::ApprovedToRun { .. },
            E::Revoked {
                cancelled: true,
                reason,
                ..
            },
        ) => S::Cancelled {
            by: ev.actor.to_string(),
            at: ev.time,
            reason: reason.clone(),
        },
        (S::ApprovedToRun { .. }, E::Revoked { reason, .. }) => S::Rejected {
            decision: decided(false, reason),
        },
        (S::Pending, E::Expired) => S::Expired,
        (S::Pending, E::Cancelled(reason)) => S::Cancelled {
            by: ev.actor.to_string(),
            at: ev.time,
            reason: reason.clone(),
        },
        (S::Pending, E::Tampered { .. }) => S::Tampered,
        (S::ApprovedToRun { decision } | S::Unknown { decision, .. }, E::Executing { .. }) => {
            S::Executing {
                decision: decision.clone(),
                started: ev.time,
            }
        }
        (S::Executing { decision, .. }, E::Executed(run)) => S::Executed(ended(decision, run)),
        (S::Executing { decision, .. }, E::Failed(run)) => S::Failed(ended(decision, run)),
        (S::Executing { decision, .. } | S::ApprovedToRun { decision }, E::Unknown { why }) => {
            S::Unknown {
                decision: decision.clone(),
                why: why.clone(),
            }
        }
        (S::Unknown { decision, .. }, E::Resolved { executed, reason }) => {
            let settled = Box::new(Ended {
                decision: decision.clone(),
                executed_at: None,
                run: RunResult {
                    exit_code: None,
                    duration_ms: 0,
                    output: String::new(),
                    truncated: false,
                    error: Some(format!("settled by {}: {reason}", ev.actor)),
                },
            });
            if *executed {
                S::Executed(settled)
            } else {
                S::Failed(settled)
            }
        }
        (s, E::Filed { .. }) if s.is_final() => s.clone(),
        _ => {
            return Err(BadTransition {
                event: ev.kind.name(),
                status: status.name(),
            });
        }
    })
}
