//! Golden files for rendered notes, and the round trip render → parse.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;

use super::{Existing, parse, render};
use crate::request::{Decision, Request, RunResult, Signal, Status, Submission};
use crate::rules::Risk;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + secs).unwrap()
}

fn request() -> Request {
    let payload = json!({"amount": 1500, "currency": "USD", "recipient": "vendor@example.com"});
    Request {
        id: "3adb486466f8".into(),
        sub: Submission {
            action: "payment".into(),
            payload_sha256: crate::payload::sha256(&payload),
            payload,
            summary: "Pay invoice 1234: 1500 USD".into(),
            rationale: Some("Invoice 1234 is due".into()),
            requested_by: "agent:books".into(),
            created: t(0),
            expires: t(3600),
            risk: Risk::High,
            signals: vec![
                Signal {
                    level: Risk::High,
                    says: "High value payment".into(),
                },
                Signal {
                    level: Risk::Medium,
                    says: "Medium value payment".into(),
                },
            ],
            rule: Some("large-payment".into()),
            file_name: "payment-3adb486466f8.md".into(),
            source: "cli".into(),
        },
        status: Status::Pending,
        decision: None,
        executed_at: None,
        attempts: 0,
        history: vec![(t(0), "submitted by agent:books (rule large-payment)".into())],
    }
}

#[test]
fn pending_note() {
    insta::assert_snapshot!(render(&request(), &[], None, &TimeZone::UTC));
}

#[test]
fn executed_note_keeps_human_text() {
    let pending = render(&request(), &[], None, &TimeZone::UTC);
    let edited = pending
        .replace("payload_sha256", "reviewer: alice # my own\npayload_sha256")
        .replace("- [ ] Reject\n", "- [ ] Reject\n\nChecked with Bob.\n")
        + "\n## My notes\n\nFrom savings.\n";
    let mut req = request();
    req.decision = Some(Decision {
        approved: true,
        by: "vault".into(),
        at: t(60),
        reason: Some("ok".into()),
    });
    req.executed_at = Some(t(61));
    req.status = Status::Executed(RunResult {
        exit_code: Some(0),
        duration_ms: 12,
        output: "paid ```\n".into(),
        truncated: true,
        error: None,
    });
    req.history
        .push((t(60), "approved by vault (ticked Approve): ok".into()));
    let existing = Existing {
        text: &edited,
        ..Existing::default()
    };
    insta::assert_snapshot!(render(&req, &[], Some(existing), &TimeZone::UTC));
}

#[test]
fn warning_keeps_the_gesture_that_caused_it() {
    let pending = render(&request(), &[], None, &TimeZone::UTC);
    let both = pending
        .replace("[ ]", "[x]")
        .replace("status: pending", "status: Maybe");
    let warned = render(
        &request(),
        &["conflicting decisions".into()],
        Some(Existing {
            text: &both,
            ..Existing::default()
        }),
        &TimeZone::UTC,
    );
    let view = parse(&warned).unwrap();
    assert!(view.ticked_approve && view.ticked_reject);
    assert_eq!(view.status.as_deref(), Some("Maybe"));
    assert!(warned.contains("> [!warning] hitl\n> - conflicting decisions\n"));
    // Rendering again over the warned note does not repeat the warning.
    let again = render(
        &request(),
        &["conflicting decisions".into()],
        Some(Existing {
            text: &warned,
            ..Existing::default()
        }),
        &TimeZone::UTC,
    );
    assert_eq!(again, warned);
}

#[test]
fn rendered_note_parses_back() {
    let text = render(&request(), &[], None, &TimeZone::UTC);
    let view = parse(&text).unwrap();
    assert_eq!(view.hitl_id.as_deref(), Some("3adb486466f8"));
    assert_eq!(view.status.as_deref(), Some("pending"));
    let shown: serde_json::Value =
        serde_json::from_str(view.payload_block.as_deref().unwrap()).unwrap();
    assert_eq!(crate::payload::sha256(&shown), request().sub.payload_sha256);
}

#[test]
fn drop_in_ingestion_resets_gestures_and_keeps_requester_text() {
    let drop_in = "---\naction: payment\namount: 5\ntags: [money]\nstatus: approved\n---\n# Pay Bob\n\nBob did the garden.\n\n```json\n{\"amount\": 5}\n```\n\n## Decision\n- [x] Approve\n";
    let keys = vec![
        "action".to_string(),
        "amount".to_string(),
        "status".to_string(),
    ];
    let ex = Existing {
        text: drop_in,
        drop_keys: &keys,
        from_drop_in: true,
    };
    let out = render(&request(), &[], Some(ex), &TimeZone::UTC);
    assert!(
        out.contains("status: pending\n") && out.contains("tags: [money]\n"),
        "{out}"
    );
    assert!(!out.contains("amount: 5"), "{out}");
    assert!(out.contains("- [ ] Approve"), "{out}");
    assert!(
        out.contains("## Requester's notes\n\nBob did the garden.\n"),
        "{out}"
    );
}
