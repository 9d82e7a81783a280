//! Printing for people and, with `--json`, for programs.
//!
//! Text a requester chose (a summary, a label, a reason) is printed through
//! [`shown`], with control characters escaped, so it can't move the cursor,
//! clear the line or retitle the terminal. `--json` output is escaped by
//! JSON itself.

use std::borrow::Cow;
use std::fmt::Write;

use serde_json::{Value, json};

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
        "payload": s.payload,
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
    for r in reqs {
        println!(
            "{}  {:<9}  {:<6}  {:<16}  {}",
            shown(&r.id),
            r.status.name(),
            r.sub.risk.as_str(),
            shown(&r.sub.action),
            shown(&r.sub.summary)
        );
    }
}

pub fn show(r: &Request, as_json: bool) {
    if as_json {
        println!("{}", request_json(r));
        return;
    }
    let s = &r.sub;
    println!(
        "{}  {}  ({})",
        shown(&r.id),
        shown(&s.summary),
        r.status.name()
    );
    println!("action:       {}", shown(&s.action));
    println!("risk:         {}", s.risk.as_str());
    println!("requested by: {}", shown(&s.requested_by));
    println!("created:      {}", s.created);
    println!("expires:      {}", s.expires);
    println!(
        "rule:         {}",
        shown(s.rule.as_deref().unwrap_or("(default)"))
    );
    if let Some(d) = r.decision() {
        let word = if d.approved { "approved" } else { "rejected" };
        println!(
            "decision:     {word} by {} at {}{}",
            shown(&d.by),
            d.at,
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
    let payload = crate::payload::pretty(&s.payload);
    let payload: Vec<Cow<str>> = payload.lines().map(shown).collect();
    println!("payload:      {}", payload.join("\n"));
    println!("history:");
    for (at, line) in &r.history {
        println!("  {at}  {}", shown(line));
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
            println!(
                "{:>6}  {}  {}  {:<10}  {}",
                r.seq,
                e.time,
                shown(&e.request),
                e.kind.name(),
                shown(&e.actor.to_string())
            );
        }
    }
}

pub fn explain(action: &str, a: &Assessment, has_handler: bool, as_json: bool) {
    let verdict = format!("{:?}", a.verdict).to_lowercase();
    if as_json {
        let signals: Vec<Value> = a
            .signals
            .iter()
            .map(|(l, s)| json!({"level": l.as_str(), "says": s}))
            .collect();
        println!(
            "{}",
            json!({"action": action, "rule": a.rule, "decision": verdict, "risk": a.risk.as_str(), "signals": signals, "handler": has_handler, "timeout_s": a.timeout.map(|t| t.as_secs())})
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
    if !has_handler {
        println!("no handler for `{action}`: approval-only, the requester acts itself");
    }
    println!("(nothing was submitted)");
}

pub fn csv(records: &[Record]) {
    println!("seq,time,request,event,actor,hash");
    for r in records {
        let e = &r.event;
        let actor = e.actor.to_string().replace('"', "\"\"");
        println!(
            "{},{},{},{},\"{actor}\",{}",
            r.seq,
            e.time,
            e.request,
            e.kind.name(),
            r.hash
        );
    }
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
