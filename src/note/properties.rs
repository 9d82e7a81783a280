//! The daemon-owned properties of a note: what they are for a request, and
//! how they are written so that YAML reads each back as the same value.

use std::fmt::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::request::Request;

/// Local time as Obsidian's date-time properties show it.
pub fn local(ts: Timestamp, tz: &TimeZone) -> String {
    tz.to_datetime(ts).strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A daemon-owned property's value, as the daemon renders it.
#[derive(Debug, Clone, PartialEq)]
pub enum Owned {
    Text(String),
    /// Hex, written unquoted.
    Hash(String),
    /// Written as local time, as Obsidian writes date-time properties.
    Instant(Timestamp),
    Int(i64),
}

/// The daemon-owned properties of `req`, in the order they are written.
pub fn owned_properties(req: &Request) -> Vec<(&'static str, Owned)> {
    let s = &req.sub;
    let text = |v: &str| Owned::Text(v.to_string());
    let mut out = vec![
        ("type", text("approval_request")),
        ("hitl_id", text(&req.id)),
        ("action", text(&s.action)),
        ("status", text(req.status.name())),
        ("risk", text(s.risk.as_str())),
        ("summary", text(&s.summary)),
    ];
    if let Some(r) = &s.rationale {
        out.push(("rationale", text(r)));
    }
    out.push(("requested_by", text(&s.requested_by)));
    out.push(("created", Owned::Instant(s.created)));
    out.push(("expires", Owned::Instant(s.expires)));
    out.push(("payload_sha256", Owned::Hash(s.payload_sha256.clone())));
    if let Some(d) = req.decision() {
        out.push(("decided_by", text(&d.by)));
        out.push(("decided_at", Owned::Instant(d.at)));
    }
    if let Some(at) = req.executed_at() {
        out.push(("executed_at", Owned::Instant(at)));
    }
    if let Some(code) = req.result().and_then(|r| r.exit_code) {
        out.push(("exit_code", Owned::Int(code.into())));
    }
    out
}

pub(super) fn frontmatter(req: &Request, status_block: Option<&str>, tz: &TimeZone) -> String {
    let mut fm = String::new();
    for (key, value) in owned_properties(req) {
        match (key, value) {
            ("status", _) if status_block.is_some() => {
                fm.push_str(status_block.unwrap_or_default());
            }
            (k, Owned::Text(v)) => {
                let _ = writeln!(fm, "{k}: {}", scalar(&v));
            }
            (k, Owned::Hash(v)) => {
                let _ = writeln!(fm, "{k}: {v}");
            }
            (k, Owned::Instant(t)) => {
                let _ = writeln!(fm, "{k}: {}", local(t, tz));
            }
            (k, Owned::Int(n)) => {
                let _ = writeln!(fm, "{k}: {n}");
            }
        }
    }
    fm
}

/// A YAML scalar: plain when it can only be read back as this same string,
/// else double-quoted.
fn scalar(v: &str) -> String {
    let plain = v.starts_with(|c: char| c.is_alphabetic() || c == '/' || c == '_')
        && v.chars()
            .all(|c| c.is_alphanumeric() || "_-.@/:+ ".contains(c))
        && !v.ends_with([' ', ':'])
        && !v.contains(": ")
        && !matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain { v.to_string() } else { yaml_quote(v) }
}

/// A YAML double-quoted scalar. Unlike JSON's quoting, it escapes every
/// character YAML forbids or folds (C1 controls, DEL, NEL, line and
/// paragraph separators, BOM).
fn yaml_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(c),
            '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..
                if !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                out.push(c)
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}
