//! The History section's wording: one line per journal event.

use crate::request::{Event, EventKind, describe_run};

/// The note's History line for `ev`.
pub fn line(ev: &Event) -> String {
    let by = &ev.actor;
    let why = |reason: &Option<String>| {
        reason
            .as_ref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    };
    match &ev.kind {
        EventKind::Submitted(sub) => match &sub.rule {
            Some(rule) => format!("submitted by {by} (rule {rule})"),
            None => format!("submitted by {by} (default rule)"),
        },
        EventKind::Approved {
            reason, gesture, ..
        } => format!("approved by {by} ({gesture}){}", why(reason)),
        EventKind::Rejected { reason, gesture } => {
            format!("rejected by {by} ({gesture}){}", why(reason))
        }
        EventKind::Expired => "expired: no decision before the deadline".into(),
        EventKind::Cancelled(reason) => format!("cancelled by {by}{}", why(reason)),
        EventKind::Tampered { changed, .. } if changed.is_empty() => {
            "tampered: the payload shown in the note no longer matches the journal".into()
        }
        EventKind::Tampered { changed, .. } => format!(
            "tampered: the note was changed where only hitl writes, so it will never run: {}",
            changed.join("; ")
        ),
        EventKind::Executing { command } => format!("handler started: {}", command.join(" ")),
        EventKind::Executed(r) => format!("executed: {}", describe_run(r)),
        EventKind::Failed(r) => format!("failed: {}", describe_run(r)),
        EventKind::Unknown { why } => format!("unknown: {why}"),
        EventKind::Resolved { executed, reason } => {
            let word = if *executed { "executed" } else { "failed" };
            format!("resolved as {word} by {by}: {reason}")
        }
        EventKind::Endorsed {
            approver,
            gesture,
            totp_step,
            of,
        } => {
            let code = if totp_step.is_some() {
                ", authenticator code"
            } else {
                ""
            };
            format!("approval counted for {approver} ({gesture}{code}), {of} needed")
        }
        EventKind::WrongCode { gesture, count } => format!(
            "wrong approval code from {by} ({gesture}): {count} of {} allowed",
            crate::config::trust::MAX_WRONG_CODES
        ),
        EventKind::Held { until } => format!(
            "runs at {} unless rejected or cancelled before (undo window)",
            until.strftime("%Y-%m-%d %H:%M:%S UTC")
        ),
        EventKind::Revoked {
            reason, gesture, ..
        } => format!(
            "revoked by {by} ({gesture}) in the undo window{}",
            why(reason)
        ),
        EventKind::Filed { folder } => format!("{FILED} {folder}/ (the history is kept by month)"),
        EventKind::Notified {
            channel,
            event,
            attempts,
        } => format!("notified on {channel} ({event}, attempt {attempts})"),
        EventKind::NotifyFailed {
            channel,
            event,
            attempts,
            error,
        } => format!("notification on {channel} failed ({event}, {attempts} attempts): {error}"),
        EventKind::Reminded => "reminder sent: the deadline is near".into(),
    }
}

/// How a filing's History line begins.
const FILED: &str = "note moved into";

/// Whether a History line is a note's filing, which changes no state.
pub fn is_filing(line: &str) -> bool {
    line.starts_with(FILED)
}
