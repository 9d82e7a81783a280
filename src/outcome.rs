//! The outcome of a request as its requester sees it: where it stands, who
//! decided and why, and what its handler did. One type for every edge that
//! answers a requester (`hitl wait`, the socket's reply, the MCP server, the
//! harness hooks), built from the journal's state of the request, so the
//! answer is the same whether it came live from the daemon or was read back
//! from the journal while the daemon was down.

use std::borrow::Cow;
use std::fmt::Write as _;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::request::{Request, Status};

/// The most of the handler's output an outcome carries, in bytes; the whole
/// of it is in the state folder (`hitl log ID`).
pub const OUTPUT_HEAD: usize = 2048;

/// A request's outcome. Text in it that came from a requester, an approver
/// or a handler has its control characters made visible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestOutcome {
    pub id: String,
    /// The request's status (`pending`, `approved`, `executed`, `rejected`,
    /// `expired`, ...), as `hitl list` names it.
    pub status: String,
    /// Who decided: `cli:alice`, `vault`, `rule:NAME`; absent without a
    /// decision (pending, expired, cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// The reason given with the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The handler's exit code, once it ran and exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler_exit_code: Option<i32>,
    /// Why a run has no exit code or its effect is unknown (a timeout, a
    /// spawn failure, a crash during the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler_error: Option<String>,
    /// The head of the handler's output (stdout, then stderr), at most
    /// [`OUTPUT_HEAD`] bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_head: Option<String>,
    /// Whether the output is longer than its head.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_truncated: bool,
    /// Until when a decision is awaited; only while the request is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
}

impl RequestOutcome {
    /// The outcome of `r` as the journal has it now.
    pub fn of(r: &Request) -> RequestOutcome {
        let decision = r.decision();
        let run = r.result();
        let (output_head, output_truncated) = match run {
            Some(run) if !run.output.is_empty() => {
                // The journal keeps the output visible already; made so again
                // (a no-op then) before the cut, so the bound is the shown size.
                let shown = crate::executor::visible(&run.output);
                let head = crate::executor::head(&shown, OUTPUT_HEAD);
                (
                    Some(head.to_string()),
                    head.len() < shown.len() || run.truncated,
                )
            }
            _ => (None, false),
        };
        let handler_error = match &r.status {
            Status::Unknown { why, .. } => Some(why.clone()),
            _ => run.and_then(|run| run.error.clone()),
        };
        RequestOutcome {
            id: r.id.clone(),
            status: r.status.name().to_string(),
            decided_by: decision.map(|d| visible(&d.by)),
            reason: decision.and_then(|d| d.reason.as_deref()).map(visible),
            handler_exit_code: run.and_then(|run| run.exit_code),
            handler_error: handler_error.map(|s| visible(&s)),
            output_head,
            output_truncated,
            deadline: matches!(r.status, Status::Pending).then_some(r.sub.expires),
        }
    }

    /// Whether the requester may go ahead: approved (and, with a handler,
    /// executed).
    pub fn allowed(&self) -> bool {
        matches!(self.status.as_str(), "approved" | "executed")
    }

    /// One line for a person or an agent: `ID rejected by cli:alice: too
    /// expensive`, `ID executed (approved by vault); handler exit 0`,
    /// `ID pending; a decision is awaited until 2026-11-26T10:00:00Z`.
    pub fn line(&self) -> String {
        let mut line = format!("{} {}", self.id, self.status);
        if let Some(by) = &self.decided_by {
            let by = one_line(by);
            let reason = self
                .reason
                .as_deref()
                .map(|r| format!(": {}", one_line(r)))
                .unwrap_or_default();
            if matches!(self.status.as_str(), "approved" | "rejected") {
                let _ = write!(line, " by {by}{reason}");
            } else {
                let _ = write!(line, " (approved by {by}{reason})");
            }
        }
        if let Some(code) = self.handler_exit_code {
            let _ = write!(line, "; handler exit {code}");
        }
        if let Some(error) = &self.handler_error {
            let _ = write!(line, "; {}", one_line(error));
        }
        if let Some(deadline) = self.deadline {
            let _ = write!(line, "; a decision is awaited until {deadline}");
        }
        line
    }
}

fn visible(s: &str) -> String {
    crate::executor::visible(s).into_owned()
}

/// `s` on one line: newlines and tabs shown as `\n` and `\t` too.
fn one_line(s: &str) -> Cow<'_, str> {
    if !s.contains(['\n', '\t']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.replace('\n', "\\n").replace('\t', "\\t"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Decision, Ended, RunResult, Source, Submission};

    fn request(status: Status) -> Request {
        let at: Timestamp = "2026-11-26T10:00:00Z".parse().unwrap();
        Request {
            id: "a1b2c3d4e5f6".into(),
            sub: Box::new(Submission {
                action: "payment".into(),
                payload: serde_json::json!({}).into(),
                payload_sha256: String::new(),
                summary: "pay".into(),
                rationale: None,
                requested_by: "cli:bot".into(),
                created: at,
                expires: at,
                risk: Default::default(),
                signals: Vec::new(),
                rule: None,
                file_name: "x.md".into(),
                source: Source::Cli,
                drop_in_sha256: None,
                notify_requester: None,
                key: None,
            }),
            status,
            attempts: 0,
            history: Vec::new(),
            reminded: false,
            undelivered: Vec::new(),
            codes_delivered: Vec::new(),
            last_record_only: false,
        }
    }

    fn decision(approved: bool, reason: &str) -> Decision {
        Decision {
            approved,
            by: "cli:alice".into(),
            at: "2026-11-26T09:00:00Z".parse().unwrap(),
            reason: Some(reason.into()),
        }
    }

    #[test]
    fn a_rejection_says_who_and_why() {
        let r = request(Status::Rejected {
            decision: decision(false, "too\nexpensive\u{1b}[2J"),
        });
        let o = RequestOutcome::of(&r);
        assert_eq!(o.status, "rejected");
        assert_eq!(o.decided_by.as_deref(), Some("cli:alice"));
        assert_eq!(o.reason.as_deref(), Some("too\nexpensive\u{241b}[2J"));
        assert_eq!(o.deadline, None);
        assert!(!o.allowed());
        assert_eq!(
            o.line(),
            "a1b2c3d4e5f6 rejected by cli:alice: too\\nexpensive\u{241b}[2J"
        );
    }

    #[test]
    fn a_pending_request_carries_its_deadline_only() {
        let o = RequestOutcome::of(&request(Status::Pending));
        assert_eq!(o.deadline, Some("2026-11-26T10:00:00Z".parse().unwrap()));
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            serde_json::json!({"id": "a1b2c3d4e5f6", "status": "pending", "deadline": "2026-11-26T10:00:00Z"})
        );
    }

    #[test]
    fn the_output_head_is_bounded_and_visible() {
        let mut output = "\u{1b}[31mred\r\n".to_string();
        output.push_str(&"é".repeat(OUTPUT_HEAD));
        let r = request(Status::Executed(Box::new(Ended {
            decision: decision(true, "ok"),
            executed_at: None,
            run: RunResult {
                exit_code: Some(0),
                duration_ms: 5,
                output,
                truncated: false,
                error: None,
            },
        })));
        let o = RequestOutcome::of(&r);
        let head = o.output_head.as_deref().unwrap();
        assert!(head.len() <= OUTPUT_HEAD, "{}", head.len());
        assert!(head.starts_with("\u{241b}[31mred\u{240d}\n"), "{head:?}");
        assert!(o.output_truncated);
        assert_eq!(o.handler_exit_code, Some(0));
        assert!(o.allowed());
        assert_eq!(
            o.line(),
            "a1b2c3d4e5f6 executed (approved by cli:alice: ok); handler exit 0"
        );
        let back: RequestOutcome =
            serde_json::from_value(serde_json::to_value(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }
}
