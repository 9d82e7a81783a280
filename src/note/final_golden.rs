//! Golden files for a note in each final state, built the way the daemon
//! builds them: a journal of events folded by `apply`, with fresh ids and
//! the time now, then redacted (ids and times) so the snapshots hold.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::render;
use crate::request::{Event, EventKind, Id, Request, RunResult, Source, Submission, apply, new_id};
use crate::rules::Risk;

/// Ids and times replaced by placeholders.
fn redact(text: &str) -> String {
    let id = regex::Regex::new(r"\b[a-f][0-9a-f]{11}\b").expect("a valid pattern");
    let time = regex::Regex::new(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?")
        .expect("a valid pattern");
    let text = id.replace_all(text, "[id]");
    time.replace_all(&text, "[time]").into_owned()
}

fn run(code: i32) -> RunResult {
    RunResult {
        exit_code: Some(code),
        duration_ms: 42,
        output: format!("paid\nexit {code}\n"),
        truncated: false,
        error: None,
    }
}

/// A payment request taken from these events, after its submission.
fn request(events: Vec<(&str, EventKind)>) -> Request {
    let id: Id = new_id();
    let start = Timestamp::now();
    let payload = json!({"amount": 1500, "currency": "USD", "recipient": "vendor@example.com"});
    let submitted = EventKind::Submitted(Box::new(Submission {
        action: "payment".into(),
        payload_sha256: crate::payload::sha256(&payload),
        payload: payload.into(),
        summary: "Pay invoice 1234: 1500 USD".into(),
        rationale: Some("Invoice 1234 is due".into()),
        requested_by: "cli:agent".into(),
        created: start,
        expires: start + SignedDuration::from_hours(1),
        risk: Risk::High,
        signals: vec![],
        rule: Some("large-payment".into()),
        file_name: format!("payment-{id}.md"),
        source: Source::Cli,
        drop_in_sha256: None,
        notify_requester: None,
        key: None,
    }));
    let mut all = BTreeMap::new();
    let events = std::iter::once(("cli:agent", submitted)).chain(events);
    for (i, (actor, kind)) in events.enumerate() {
        let ev = Event {
            time: start + SignedDuration::from_secs(60 * i as i64),
            request: id.clone(),
            actor: actor.into(),
            kind,
        };
        apply(&mut all, &ev).expect("a legal lifecycle");
    }
    all.remove(&id).expect("submitted above")
}

fn approved(runs_handler: bool) -> (&'static str, EventKind) {
    let kind = EventKind::Approved {
        reason: Some("invoice checked".into()),
        gesture: "cli".into(),
        runs_handler,
    };
    ("cli:alice", kind)
}

fn started() -> (&'static str, EventKind) {
    let command = vec!["/usr/local/bin/pay".into(), "--live".into()];
    ("hitl", EventKind::Executing { command })
}

fn unknown() -> (&'static str, EventKind) {
    let why = "hitl stopped while the handler ran".into();
    ("hitl", EventKind::Unknown { why })
}

#[test]
fn a_note_in_each_final_state() {
    let rejected = EventKind::Rejected {
        reason: Some("not this month".into()),
        gesture: "vault: ticked Reject".into(),
    };
    let tampered = EventKind::Tampered {
        found_sha256: Some("0".repeat(64)),
        changed: vec!["the payload block".into()],
    };
    let resolved = EventKind::Resolved {
        executed: true,
        reason: "the bank shows the payment".into(),
    };
    let states = [
        ("approved", vec![approved(false)]),
        ("rejected", vec![("vault", rejected)]),
        ("expired", vec![("hitl", EventKind::Expired)]),
        (
            "cancelled",
            vec![("cli:agent", EventKind::Cancelled(Some("sent twice".into())))],
        ),
        ("tampered", vec![("hitl", tampered)]),
        (
            "executed",
            vec![
                approved(true),
                started(),
                ("hitl", EventKind::Executed(run(0))),
            ],
        ),
        (
            "failed",
            vec![
                approved(true),
                started(),
                ("hitl", EventKind::Failed(run(3))),
            ],
        ),
        ("unknown", vec![approved(true), started(), unknown()]),
        (
            "resolved",
            vec![
                approved(true),
                started(),
                unknown(),
                ("cli:alice", resolved),
            ],
        ),
    ];
    for (name, events) in states {
        let note = render(&request(events), &[], None, &TimeZone::UTC);
        insta::assert_snapshot!(format!("final_note_{name}"), redact(&note));
    }
}

#[test]
fn redaction_leaves_no_id_or_time() {
    let text = "hitl_id: c3adb486466f\ncreated: 2026-11-25T07:30:00\n- 2026-11-25 07:30 UTC";
    assert_eq!(redact(text), "hitl_id: [id]\ncreated: [time]\n- [time] UTC");
}
