//! Printing for people and, with `--json`, for programs.
//!
//! Text a requester chose (a summary, a label, a reason) is printed through
//! [`shown`], with control characters escaped, so it can't move the cursor,
//! clear the line or retitle the terminal. `--json` output is escaped by
//! JSON itself.

use std::borrow::Cow;
use std::fmt::Write;

use std::path::Path;

use serde_json::{Value, json};

use super::style;

use crate::journal::Record;
use crate::request::{Request, describe_run};
use crate::rules::Assessment;

fn request_json(r: &Request) -> Value {
    let s = &r.sub;
    json!({
        "id": r.id,
        "action": s.action,
        "status": r.status.name(),
        "risk": s.risk.as_str(),
        "summary": s.summary,
        "rationale": s.rationale,
        "requested_by": s.requested_by,
        "created": s.created.to_string(),
        "expires": s.expires.to_string(),
        "rule": s.rule,
        "signals": s.signals,
        "payload": s.payload.value(),
        "payload_sha256": s.payload_sha256,
        "decided_by": r.decision().map(|d| d.by.clone()),
        "decided_at": r.decision().map(|d| d.at.to_string()),
        "decision_reason": r.decision().and_then(|d| d.reason.clone()),
        "result": r.result(),
        "exit_code": r.status.exit_code(),
    })
}

pub fn list(reqs: &[&Request], as_json: bool) {
    if as_json {
        let all: Vec<Value> = reqs.iter().map(|r| request_json(r)).collect();
        println!("{}", Value::Array(all));
        return;
    }
    if reqs.is_empty() {
        println!("no requests");
        return;
    }
    let mut reqs = reqs.to_vec();
    // Open requests first, soonest deadline first; then the rest, newest first.
    reqs.sort_by(|a, b| {
        let (oa, ob) = (!a.status.is_final(), !b.status.is_final());
        ob.cmp(&oa).then_with(|| {
            if oa {
                a.sub.expires.cmp(&b.sub.expires)
            } else {
                b.sub.created.cmp(&a.sub.created)
            }
        })
    });
    let now = jiff::Timestamp::now();
    let h = style::header();
    anstream::println!(
        "{h}{:<12}{h:#}  {h}{:<9}{h:#}  {h}{:<6}{h:#}  {h}{:<16}{h:#}  {h}{:<7}{h:#}  {h}{:<10}{h:#}  {h}SUMMARY{h:#}",
        "ID",
        "STATUS",
        "RISK",
        "ACTION",
        "AGE",
        "EXPIRES IN"
    );
    for r in reqs {
        let status = r.status.name();
        let age = style::span(now.duration_since(r.sub.created).as_secs());
        let expires = if r.status.is_final() {
            "-".to_string()
        } else {
            let left = r.sub.expires.duration_since(now).as_secs();
            if left > 0 {
                style::span(left)
            } else {
                "now".into()
            }
        };
        anstream::println!(
            "{:<12}  {}  {}  {:<16}  {:<7}  {:<10}  {}",
            shown(&r.id),
            style::padded(style::status(status), status, 9),
            style::padded(style::risk(r.sub.risk.as_str()), r.sub.risk.as_str(), 6),
            shown(&r.sub.action),
            age,
            expires,
            shown(&r.sub.summary)
        );
    }
}

pub fn show(r: &Request, as_json: bool, state_dir: &Path) {
    if as_json {
        println!("{}", request_json(r));
        return;
    }
    let s = &r.sub;
    let status = r.status.name();
    anstream::println!(
        "{}  {}  ({})",
        shown(&r.id),
        shown(&s.summary),
        style::padded(style::status(status), status, 0)
    );
    println!("action:       {}", shown(&s.action));
    anstream::println!(
        "risk:         {}",
        style::padded(style::risk(s.risk.as_str()), s.risk.as_str(), 0)
    );
    println!("requested by: {}", shown(&s.requested_by));
    println!("created:      {}", style::time(s.created));
    println!("expires:      {}", style::time(s.expires));
    println!(
        "rule:         {}",
        shown(s.rule.as_deref().unwrap_or("(default)"))
    );
    if let Some(d) = r.decision() {
        let word = if d.approved { "approved" } else { "rejected" };
        println!(
            "decision:     {word} by {} at {}{}",
            shown(&d.by),
            style::time(d.at),
            d.reason
                .as_ref()
                .map(|x| format!(": {}", shown(x)))
                .unwrap_or_default()
        );
    }
    if let Some(res) = r.result() {
        println!("result:       {}", shown(&describe_run(res)));
    }
    // JSON escapes only the C0 controls in its strings; a C1 control
    // (U+009B is CSI on some terminals) is escaped here, line by line.
    let payload = crate::payload::pretty(&s.payload.value());
    let payload: Vec<Cow<str>> = payload.lines().map(shown).collect();
    println!("payload:      {}", payload.join("\n"));
    if let Some(res) = r.result() {
        output_head(&r.id, res, state_dir);
    }
    println!("history:");
    for (at, line) in &r.history {
        println!("  {}  {}", style::time(*at), shown(line));
    }
}

/// The first lines of the handler's output, made safe to print.
fn output_head(id: &str, res: &crate::request::RunResult, state_dir: &Path) {
    const LINES: usize = 10;
    let lines: Vec<&str> = res.output.lines().collect();
    if lines.is_empty() {
        println!("output:       (none)");
        return;
    }
    println!("output:");
    for line in lines.iter().take(LINES) {
        println!("  {}", shown(line));
    }
    if lines.len() > LINES || res.truncated {
        println!(
            "  ... (the whole of it: hitl log {id}, or {})",
            state_dir.join("output").join(format!("{id}.log")).display()
        );
    }
}

pub fn history<'a>(records: impl Iterator<Item = &'a Record>, as_json: bool) {
    for r in records {
        let e = &r.event;
        if as_json {
            println!(
                "{}",
                json!({"seq": r.seq, "time": e.time.to_string(), "request": e.request, "event": e.kind.name(), "actor": e.actor, "details": e.kind})
            );
        } else {
            // The note's History wording carries the reason and the result.
            println!(
                "{:>6}  {}  {}  {:<10}  {:<12}  {}",
                r.seq,
                style::time(e.time),
                shown(&e.request),
                e.kind.name(),
                shown(&e.actor.to_string()),
                shown(&crate::note::history::line(e))
            );
        }
    }
}

/// What `hitl explain` shows beside the rules' assessment.
pub struct Explained {
    pub has_handler: bool,
    /// The deciding `auto` rule says `hook: allow`: `hitl hook` lets the
    /// tool call run without the harness asking.
    pub hook_allow: bool,
}

pub fn explain(action: &str, a: &Assessment, facts: Explained, as_json: bool) {
    let Explained {
        has_handler,
        hook_allow,
    } = facts;
    let verdict = format!("{:?}", a.verdict).to_lowercase();
    if as_json {
        let signals: Vec<Value> = a
            .signals
            .iter()
            .map(|(l, s)| json!({"level": l.as_str(), "says": s}))
            .collect();
        println!(
            "{}",
            json!({"action": action, "rule": a.rule, "decision": verdict, "risk": a.risk.as_str(), "signals": signals, "handler": has_handler, "hook_allow": hook_allow, "timeout_s": a.timeout.map(|t| t.as_secs())})
        );
        return;
    }
    match &a.rule {
        Some(rule) if a.held => println!(
            "rule `{rule}` would approve, but a rule before it could not be evaluated: {verdict}"
        ),
        None if a.held => {
            println!("the default would approve, but a rule could not be evaluated: {verdict}")
        }
        Some(rule) => println!("rule `{rule}` decides: {verdict}"),
        None => println!("no rule matches; the default decides: {verdict}"),
    }
    println!("risk: {}", a.risk.as_str());
    for (level, says) in &a.signals {
        println!("  - {says} ({})", level.as_str());
    }
    if hook_allow {
        println!("hook: allow: `hitl hook` lets this tool call run without the harness asking");
    }
    if !has_handler {
        println!("no handler for `{action}`: approval-only, the requester acts itself");
    }
    println!("(nothing was submitted)");
}

/// `text` with control characters and bidirectional overrides escaped
/// (`\u{1b}`, `\r`, `\n`): one field stays on its line.
pub fn shown(text: &str) -> Cow<'_, str> {
    let unsafe_char = crate::ipc::wire::is_unsafe_char;
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "{}", c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn requester_text_cannot_drive_the_terminal() {
        assert_eq!(shown("pay \u{1b}[2Jvendor\r"), "pay \\u{1b}[2Jvendor\\r");
        assert_eq!(shown("a\u{202e}b\u{7}"), "a\\u{202e}b\\u{7}");
        assert_eq!(shown("a\nrisk: low"), "a\\nrisk: low");
        assert_eq!(shown("plain text, ünïcode"), "plain text, ünïcode");
    }
}
