//! Gemini CLI's `BeforeTool` hook: `tool_name` and `tool_input` (MCP tools
//! named `mcp__<server>__<tool>`, with `mcp_context`); the answer is
//! `{"decision": "allow" | "deny", "reason": ...}` on stdout, exit 0; `{}`
//! lets Gemini CLI's own confirmation go on. It has no "ask".

use serde_json::{Value, json};

use super::{Answer, Harness, HookError, Rendered, SettingsFile, TimeoutUnit, ToolCall, parse};

pub(super) const HARNESS: Harness = Harness {
    name: "gemini",
    events: &["BeforeTool"],
    can_ask: false,
    can_defer: false,
    parse: read,
    render,
    settings: SettingsFile {
        path: ".gemini/settings.json",
        entries: &[("BeforeTool", Some("run_shell_command|mcp__.*"))],
        timeout_unit: TimeoutUnit::Milliseconds,
        versioned: false,
        flat: false,
    },
};

fn read(v: &Value) -> Result<ToolCall, HookError> {
    let mut call = parse::tool_event(&HARNESS, v, "tool_use_id")?;
    if let Some(server) = v
        .get("mcp_context")
        .and_then(|c| c.get("server_name"))
        .and_then(Value::as_str)
        && let Some(Value::Object(ctx)) = call.payload.get_mut(super::CONTEXT_KEY)
    {
        ctx.insert("mcp_server".into(), Value::String(server.into()));
    }
    Ok(call)
}

fn render(_event: Option<&str>, answer: &Answer) -> Rendered {
    match answer {
        Answer::Allow(why) => Rendered::json(json!({ "decision": "allow", "reason": why })),
        Answer::Deny(why) => {
            Rendered::json(json!({ "decision": "deny", "reason": why })).with_stderr(why)
        }
        // Unreachable by configuration (no ask or defer here); if it ever
        // is, it must not let the call through.
        Answer::Ask(why) | Answer::Defer(why) => {
            Rendered::json(json!({ "decision": "deny", "reason": why })).with_stderr(why)
        }
        Answer::NoOpinion => Rendered::json(json!({})),
    }
}
