//! Codex CLI's hooks. `PermissionRequest` fires where Codex would ask its
//! user: the answer is `hookSpecificOutput.decision.behavior` allow or deny
//! (with `message`); silence shows Codex's own approval prompt, which is
//! how hitl "asks". `PreToolUse` can only block: `permissionDecision: deny`
//! with a reason; anything else is silence and Codex's approval policy goes
//! on. Input unread (event unknown): exit 2 with the reason on stderr,
//! which blocks in both.
//!
//! `hitl hook install codex` hooks `PreToolUse`, which fires whatever
//! Codex's approval policy is (so it gates also in full-auto);
//! `PermissionRequest` fires only where Codex would ask, and suits those who
//! want hitl to answer Codex's prompts instead (docs/agents.md).

use serde_json::{Value, json};

use super::{Answer, Harness, HookError, Rendered, SettingsFile, TimeoutUnit, ToolCall, parse};

pub(super) const HARNESS: Harness = Harness {
    name: "codex",
    events: &["PermissionRequest", "PreToolUse"],
    can_ask: true,
    can_defer: false,
    parse: read,
    render,
    settings: SettingsFile {
        path: ".codex/hooks.json",
        entries: &[("PreToolUse", Some("Bash|mcp__.*"))],
        timeout_unit: TimeoutUnit::Seconds,
        versioned: false,
        flat: false,
    },
};

fn read(v: &Value) -> Result<ToolCall, HookError> {
    parse::tool_event(&HARNESS, v, "tool_use_id")
}

fn render(event: Option<&str>, answer: &Answer) -> Rendered {
    match (event, answer) {
        (Some("PermissionRequest"), Answer::Allow(_)) => Rendered::json(json!({
            "hookSpecificOutput": {
                "hookEventName": "PermissionRequest",
                "decision": { "behavior": "allow" },
            }
        })),
        (Some("PermissionRequest"), Answer::Deny(why)) => Rendered::json(json!({
            "hookSpecificOutput": {
                "hookEventName": "PermissionRequest",
                "decision": { "behavior": "deny", "message": why },
            }
        }))
        .with_stderr(why),
        (Some("PreToolUse"), Answer::Deny(why)) => Rendered::json(json!({
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": why,
            }
        }))
        .with_stderr(why),
        (Some(_), _) => Rendered::silent(),
        (None, answer) => {
            let why = match answer {
                Answer::Deny(why) => why.as_str(),
                _ => "the hook input could not be read",
            };
            Rendered {
                stdout: String::new(),
                stderr: format!("hitl: {why}"),
                exit_code: 2,
            }
        }
    }
}
