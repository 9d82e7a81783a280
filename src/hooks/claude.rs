//! Claude Code's `PreToolUse` hook: `tool_name` and `tool_input` on stdin;
//! the answer is `hookSpecificOutput.permissionDecision` (allow, deny, ask,
//! or defer in `claude -p`) with `permissionDecisionReason`, exit 0. Silence
//! lets Claude Code's own permission rules decide.

use serde_json::{Value, json};

use super::{Answer, Harness, HookError, Rendered, SettingsFile, TimeoutUnit, ToolCall, parse};

pub(super) const HARNESS: Harness = Harness {
    name: "claude-code",
    events: &["PreToolUse"],
    can_ask: true,
    can_defer: true,
    parse: read,
    render,
    settings: SettingsFile {
        path: ".claude/settings.json",
        entries: &[("PreToolUse", Some("Bash|mcp__.*"))],
        timeout_unit: TimeoutUnit::Seconds,
        versioned: false,
        flat: false,
    },
};

fn read(v: &Value) -> Result<ToolCall, HookError> {
    parse::tool_event(&HARNESS, v, "tool_use_id")
}

fn render(_event: Option<&str>, answer: &Answer) -> Rendered {
    let (decision, reason) = match answer {
        Answer::Allow(r) => ("allow", r),
        Answer::Deny(r) => ("deny", r),
        Answer::Ask(r) => ("ask", r),
        Answer::Defer(r) => ("defer", r),
        Answer::NoOpinion => return Rendered::silent(),
    };
    let out = Rendered::json(json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }
    }));
    if decision == "deny" {
        out.with_stderr(reason)
    } else {
        out
    }
}
