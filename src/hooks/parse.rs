//! What the harnesses' hook inputs share: one JSON object naming the
//! event, the tool and its input, read with a size bound and nothing taken
//! on trust.

use serde_json::{Map, Value, json};

use super::{CONTEXT_KEY, Harness, HookError, ToolCall};

/// The largest hook input read, in bytes (a tool input holding a whole
/// file's content can be large; a stranger's stream must still end).
pub const MAX_INPUT: usize = crate::ipc::MAX_LINE;

/// The hook's stdin as a JSON object.
pub fn read(bytes: &[u8]) -> Result<Value, HookError> {
    if bytes.len() > MAX_INPUT {
        return Err(HookError::TooLarge(MAX_INPUT));
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| HookError::NotJson(e.to_string()))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(HookError::NotJson("not a JSON object".into()))
    }
}

pub(super) fn string(v: &Value, key: &'static str) -> Result<String, HookError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or(HookError::Missing(key))
}

pub(super) fn opt_string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

/// A tool's input as a JSON object: an object as it is; a string holding
/// a JSON object (Cursor's MCP input) parsed; anything else under `input`.
pub(super) fn tool_input(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            _ => Map::from_iter([("input".to_string(), Value::String(s.clone()))]),
        },
        None | Some(Value::Null) => Map::new(),
        Some(other) => Map::from_iter([("input".to_string(), other.clone())]),
    }
}

/// The hook's context, kept beside the tool input: which harness, session
/// and call asked, and from where. `call_id` finds the request again when
/// a deferred session resumes.
pub(super) fn context(h: &Harness, event: &str, v: &Value, call_id_key: &str) -> Value {
    let mut c = json!({ "harness": h.name, "event": event });
    for (to, from) in [
        ("session", "session_id"),
        ("session", "conversation_id"),
        ("call_id", call_id_key),
        ("generation", "generation_id"),
        ("cwd", "cwd"),
    ] {
        if let Some(s) = opt_string(v, from) {
            c[to] = Value::String(s);
        }
    }
    c
}

/// The common shape: `hook_event_name`, `tool_name`, `tool_input`.
pub(super) fn tool_event(h: &Harness, v: &Value, call_id_key: &str) -> Result<ToolCall, HookError> {
    let event = string(v, "hook_event_name")?;
    h.check_event(&event)?;
    let tool = string(v, "tool_name")?;
    let mut payload = tool_input(v.get("tool_input"));
    let rationale = payload
        .get("description")
        .and_then(Value::as_str)
        .map(String::from);
    // Ours always wins over a `_hook` the tool input may carry.
    payload.insert(CONTEXT_KEY.into(), context(h, &event, v, call_id_key));
    Ok(ToolCall {
        event,
        tool,
        payload,
        rationale,
    })
}
