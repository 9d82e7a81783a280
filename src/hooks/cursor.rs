//! Cursor's `beforeShellExecution` (`command`, `cwd`) and
//! `beforeMCPExecution` (`tool_name`, `tool_input` as a JSON string, the
//! server's `url` or `command`) hooks. The answer is
//! `{"permission": "allow" | "deny" | "ask", "user_message", "agent_message"}`
//! on stdout, exit 0; `{}` lets Cursor's own settings decide. A shell
//! command is the action `cursor.Shell`.

use serde_json::{Map, Value, json};

use super::{
    Answer, CONTEXT_KEY, Harness, HookError, Rendered, SettingsFile, TimeoutUnit, ToolCall, parse,
};

pub(super) const HARNESS: Harness = Harness {
    name: "cursor",
    events: &["beforeShellExecution", "beforeMCPExecution"],
    can_ask: true,
    can_defer: false,
    parse: read,
    render,
    settings: SettingsFile {
        path: ".cursor/hooks.json",
        entries: &[("beforeShellExecution", None), ("beforeMCPExecution", None)],
        timeout_unit: TimeoutUnit::Seconds,
        versioned: true,
        flat: true,
    },
};

fn read(v: &Value) -> Result<ToolCall, HookError> {
    let event = parse::string(v, "hook_event_name")?;
    HARNESS.check_event(&event)?;
    let mut ctx = parse::context(&HARNESS, &event, v, "tool_use_id");
    let (tool, mut payload) = if event == "beforeShellExecution" {
        let command = parse::string(v, "command")?;
        let mut p = Map::new();
        p.insert("command".into(), Value::String(command));
        ("Shell".to_string(), p)
    } else {
        for key in ["url", "command"] {
            if let Some(s) = parse::opt_string(v, key) {
                ctx["mcp_server"] = Value::String(s);
            }
        }
        (
            parse::string(v, "tool_name")?,
            parse::tool_input(v.get("tool_input")),
        )
    };
    payload.insert(CONTEXT_KEY.into(), ctx);
    Ok(ToolCall {
        event,
        tool,
        payload,
        rationale: None,
    })
}

fn render(_event: Option<&str>, answer: &Answer) -> Rendered {
    match answer {
        Answer::Allow(_) => Rendered::json(json!({ "permission": "allow" })),
        Answer::Deny(why) => Rendered::json(json!({
            "permission": "deny",
            "user_message": why,
            "agent_message": why,
        }))
        .with_stderr(why),
        Answer::Ask(why) => Rendered::json(json!({ "permission": "ask", "user_message": why })),
        // Unreachable by configuration (no defer here); never lets it through.
        Answer::Defer(why) => Rendered::json(json!({
            "permission": "deny",
            "user_message": why,
            "agent_message": why,
        })),
        Answer::NoOpinion => Rendered::json(json!({})),
    }
}
