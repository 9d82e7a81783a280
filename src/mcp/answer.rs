//! What the MCP tools answer, as pure functions of the daemon's answer:
//! the outcome as text and `structuredContent`, a hint when the request is
//! still open, and Claude Code's permission-prompt contract
//! (`{"behavior":"allow","updatedInput":...}` or
//! `{"behavior":"deny","message":...}` in one text block).

use std::time::Duration;

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

use super::daemon::{DaemonError, Waited};

/// A request's outcome; an open one says how to go on waiting.
pub fn outcome(waited: Waited) -> CallToolResult {
    let (o, open) = match waited {
        Waited::Settled(o) => (o, false),
        Waited::Open(o) => (o, true),
    };
    let mut value = serde_json::to_value(&o).expect("outcomes serialise");
    value["allowed"] = o.allowed().into();
    if open {
        let until = o
            .deadline
            .map(|d| format!(" (a decision is awaited until {d})"))
            .unwrap_or_default();
        value["hint"] = format!(
            "still {}{until}: call wait_for_decision with {{\"id\": \"{}\"}} to go on waiting; don't act until it is approved",
            o.status, o.id
        )
        .into();
    }
    CallToolResult::structured(value)
}

/// The daemon could not be asked, or refused: a tool error the agent sees.
pub fn failed(e: &DaemonError) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!("hitl: {e}"))])
}

/// The answer to Claude Code's permission prompt. Only an approval allows
/// the tool call, with its input unchanged; everything else denies, with
/// the reason the agent should learn, and an error is also a tool error.
pub fn permission(
    result: &Result<Waited, DaemonError>,
    input: &Value,
    bound: Duration,
) -> CallToolResult {
    let (value, is_error) = match result {
        Ok(Waited::Settled(o)) if o.allowed() => {
            (json!({"behavior": "allow", "updatedInput": input}), false)
        }
        Ok(Waited::Settled(o)) => (deny(format!("hitl: {}", o.line())), false),
        Ok(Waited::Open(o)) => {
            let withdrawn = if o.status == "pending" {
                " (the request is withdrawn; ask again to retry)"
            } else {
                ""
            };
            let message = format!(
                "hitl: request {} is still {} after {} s; denied for now{withdrawn}",
                o.id,
                o.status,
                bound.as_secs()
            );
            (deny(message), false)
        }
        Err(e) => (deny(format!("hitl: {e}")), true),
    };
    // One text block holding the JSON, as the contract says; the same
    // object as structured content.
    if is_error {
        CallToolResult::structured_error(value)
    } else {
        CallToolResult::structured(value)
    }
}

fn deny(message: String) -> Value {
    json!({"behavior": "deny", "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::RequestOutcome;

    fn outcome_of(status: &str, reason: Option<&str>) -> RequestOutcome {
        serde_json::from_value(json!({
            "id": "a1b2c3d4e5f6",
            "status": status,
            "decided_by": "cli:alice",
            "reason": reason,
        }))
        .unwrap()
    }

    fn text(r: &CallToolResult) -> Value {
        let t = r.content[0].as_text().unwrap();
        serde_json::from_str(&t.text).unwrap()
    }

    #[test]
    fn an_approval_allows_the_tool_call_with_its_input_unchanged() {
        let input = json!({"command": "git push --force"});
        let r = permission(
            &Ok(Waited::Settled(outcome_of("approved", None))),
            &input,
            Duration::from_secs(50),
        );
        assert_eq!(
            text(&r),
            json!({"behavior": "allow", "updatedInput": input})
        );
        assert_eq!(r.structured_content, Some(text(&r)));
        assert_eq!(r.is_error, Some(false));
    }

    #[test]
    fn anything_but_an_approval_denies_with_the_reason() {
        let input = json!({});
        let bound = Duration::from_secs(50);
        let cases = [
            (
                Ok(Waited::Settled(outcome_of("rejected", Some("not on main")))),
                "rejected by cli:alice: not on main",
                false,
            ),
            (
                Ok(Waited::Settled(outcome_of("expired", None))),
                "expired",
                false,
            ),
            (
                Ok(Waited::Open(outcome_of("pending", None))),
                "still pending after 50 s",
                false,
            ),
            (
                Err(DaemonError::Down("/run/hitl.sock".into())),
                "not running",
                true,
            ),
        ];
        for (result, says, is_error) in cases {
            let r = permission(&result, &input, bound);
            let v = text(&r);
            assert_eq!(v["behavior"], "deny", "{v}");
            assert!(v["message"].as_str().unwrap().contains(says), "{v}");
            assert_eq!(r.is_error, Some(is_error), "{v}");
        }
    }

    #[test]
    fn an_open_request_says_how_to_go_on_waiting() {
        let r = outcome(Waited::Open(outcome_of("pending", None)));
        let v = r.structured_content.clone().unwrap();
        assert_eq!(v["status"], "pending");
        assert_eq!(v["allowed"], false);
        assert!(
            v["hint"].as_str().unwrap().contains("wait_for_decision"),
            "{v}"
        );
        assert_eq!(text(&r), v);
        let r = outcome(Waited::Settled(outcome_of("approved", Some("ok"))));
        let v = r.structured_content.unwrap();
        assert_eq!(v["allowed"], true);
        assert!(v.get("hint").is_none(), "{v}");
    }
}
