//! Printing for people and, with `--json`, for programs.

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
        "decided_by": r.decision.as_ref().map(|d| d.by.clone()),
        "decided_at": r.decision.as_ref().map(|d| d.at.to_string()),
        "decision_reason": r.decision.as_ref().and_then(|d| d.reason.clone()),
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
            r.id,
            r.status.name(),
            r.sub.risk.as_str(),
            r.sub.action,
            r.sub.summary
        );
    }
}

pub fn show(r: &Request, as_json: bool) {
    if as_json {
        println!("{}", request_json(r));
        return;
    }
    let s = &r.sub;
    println!("{}  {}  ({})", r.id, s.summary, r.status.name());
    println!("action:       {}", s.action);
    println!("risk:         {}", s.risk.as_str());
    println!("requested by: {}", s.requested_by);
    println!("created:      {}", s.created);
    println!("expires:      {}", s.expires);
    println!("rule:         {}", s.rule.as_deref().unwrap_or("(default)"));
    if let Some(d) = &r.decision {
        let word = if d.approved { "approved" } else { "rejected" };
        println!(
            "decision:     {word} by {} at {}{}",
            d.by,
            d.at,
            d.reason
                .as_ref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default()
        );
    }
    if let Some(res) = r.result() {
        println!("result:       {}", describe_run(res));
    }
    println!("payload:      {}", crate::payload::pretty(&s.payload));
    println!("history:");
    for (at, line) in &r.history {
        println!("  {at}  {line}");
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
                e.request,
                e.kind.name(),
                e.actor
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
        let actor = e.actor.replace('"', "\"\"");
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
