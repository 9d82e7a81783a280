//! Drop-in requests: notes an agent writes straight into the pending folder,
//! in the format agent setups already use.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::NewRequest;
use crate::note::NoteView;
use crate::request::Id;

/// Keys with a meaning of their own; every other key is payload.
const RESERVED: &[&str] = &[
    "type",
    "action",
    "reason",
    "summary",
    "requested_by",
    "requestor",
    "expires",
    "priority",
    "tags",
    "created",
    "status",
    "hitl_id",
    "decision_reason",
    "code",
];

/// Keys kept in the rewritten note (they mean something to Obsidian views).
const KEPT: &[&str] = &["tags", "priority", "decision_reason", "code"];

/// Turns a drop-in note into a request. Returns it with the frontmatter keys
/// it consumed (dropped from the canonical note), or why it can't be taken.
pub fn drop_in_request(
    view: &NoteView,
    id: Id,
    file_name: Option<String>,
) -> Result<(NewRequest, Vec<String>), String> {
    let p = &view.props;
    let action = p
        .text("action")
        .or_else(|| p.text("type").filter(|t| t != "approval_request"))
        .ok_or("this note has no `action` (or `type`) naming the action: it was not taken as a request")?;
    let mut payload = Map::new();
    for (k, v) in &p.0 {
        if !RESERVED.contains(&k.as_str()) {
            payload.insert(k.clone(), v.clone());
        }
    }
    let payload = match view.payload_block.as_deref() {
        None => Value::Object(payload),
        Some(block) => match serde_json::from_str::<Value>(block) {
            Ok(Value::Object(fields)) => {
                payload.extend(fields);
                Value::Object(payload)
            }
            Ok(other) if payload.is_empty() => other,
            Ok(_) => return Err("the json block is not an object, and the note also has payload properties: keep one of the two".into()),
            Err(e) => return Err(format!("the json block is not valid JSON: {e}")),
        },
    };
    let expires = match p.text("expires") {
        None => None,
        Some(t) => {
            Some(parse_time(&t).ok_or_else(|| format!("`expires: {t}` is not a date-time"))?)
        }
    };
    let consumed =
        p.0.iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !KEPT.contains(&k.as_str()))
            .collect();
    let nr = NewRequest {
        id,
        action,
        payload,
        summary: p.text("summary"),
        rationale: p.text("reason"),
        requested_by: requester(p.text("requested_by").or_else(|| p.text("requestor"))),
        timeout: None,
        expires,
        file_name,
        source: crate::request::Source::DropIn,
        drop_in_sha256: Some(fingerprint(view)),
        notify_requester: None,
        key: None,
    };
    Ok((nr, consumed))
}

/// Who a drop-in is from: the drop-in channel, extended (never replaced)
/// by the name the note claims, as a label: a note can't pass for a caller
/// the kernel named (`cli:alice`).
fn requester(claimed: Option<String>) -> String {
    let label: String = claimed
        .unwrap_or_default()
        .chars()
        .filter(|c| !crate::ipc::wire::is_unsafe_char(*c))
        .take(crate::ipc::wire::MAX_LABEL)
        .collect();
    match label.trim() {
        "" => "drop-in".into(),
        label => format!("drop-in (agent: {label})"),
    }
}

/// What identifies a drop-in's content: a hash of its properties and body
/// as read. The engine remembers it with the file name, so a drop-in whose
/// rewrite failed is not taken again at the next reconcile or restart.
pub fn fingerprint(view: &NoteView) -> String {
    let mut text = String::new();
    for (k, v) in &view.props.0 {
        text.push_str(&serde_json::to_string(k).unwrap_or_default());
        text.push(':');
        text.push_str(&v.to_string());
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&view.body);
    crate::payload::hex_sha256(text.as_bytes())
}

/// An RFC 3339 time, or a local date-time without offset, or a date.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    let tz = jiff::tz::TimeZone::system();
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        return tz.to_ambiguous_timestamp(dt).compatible().ok();
    }
    let date = text.parse::<jiff::civil::Date>().ok()?;
    tz.to_ambiguous_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .ok()
}
