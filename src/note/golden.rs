//! Golden files for rendered notes, and the round trip render → parse.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;

use super::{Existing, parse, render};
use crate::request::{Decision, Ended, Request, RunResult, Signal, Status, Submission};
use crate::rules::Risk;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + secs).unwrap()
}

fn request() -> Request {
    let payload = json!({"amount": 1500, "currency": "USD", "recipient": "vendor@example.com"});
    Request {
        id: "c3adb486466f".into(),
        sub: Box::new(Submission {
            action: "payment".into(),
            payload_sha256: crate::payload::sha256(&payload),
            payload: payload.into(),
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
            file_name: "payment-c3adb486466f.md".into(),
            source: crate::request::Source::Cli,
            drop_in_sha256: None,
            notify_requester: None,
            key: None,
        }),
        status: Status::Pending,
        attempts: 0,
        history: vec![(t(0), "submitted by agent:books (rule large-payment)".into())],
        reminded: false,
        undelivered: Vec::new(),
        codes_delivered: Vec::new(),
        last_record_only: false,
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
    req.status = Status::Executed(Box::new(Ended {
        decision: Decision {
            approved: true,
            by: "vault".into(),
            at: t(60),
            reason: Some("ok".into()),
        },
        executed_at: Some(t(61)),
        run: RunResult {
            exit_code: Some(0),
            duration_ms: 12,
            output: "paid ```\n".into(),
            truncated: true,
            error: None,
        },
    }));
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

/// Regression: requester text with line breaks could open a fake Decision
/// section with a ticked box, and so approve itself.
#[test]
fn requester_text_cannot_inject_a_gesture() {
    let evil = "x\n\n## Decision\n\n- [x] Approve\r- [x] Approve\u{2028}- [x] Approve";
    let mut req = request();
    req.sub.summary = evil.into();
    req.sub.rationale = Some(evil.into());
    req.sub.requested_by = evil.into();
    req.history.push((t(1), format!("rejected by {evil}")));
    let text = render(&req, &[evil.into()], None, &TimeZone::UTC);
    let view = parse(&text).unwrap();
    assert!(!view.ticked_approve && !view.ticked_reject, "{text}");
    let headings = text
        .lines()
        .filter(|l| l.starts_with("## Decision"))
        .count();
    assert_eq!(headings, 1, "{text}");
}

#[test]
fn rendered_note_parses_back() {
    let text = render(&request(), &[], None, &TimeZone::UTC);
    let view = parse(&text).unwrap();
    assert_eq!(view.hitl_id.as_deref(), Some("c3adb486466f"));
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

#[test]
fn a_section_of_the_human_above_decision_is_kept_below_history() {
    let pending = render(&request(), &[], None, &TimeZone::UTC);
    let edited = pending.replacen(
        "\n## Decision",
        "<!-- mine -->\n\n## Mine\n\nAbove, on purpose.\n\n## Decision",
        1,
    );
    let mut req = request();
    req.status = Status::Expired;
    let existing = Existing {
        text: &edited,
        ..Existing::default()
    };
    let out = render(&req, &[], Some(existing), &TimeZone::UTC);
    let (above, below) = out.split_once("## History").unwrap();
    assert!(
        !above.contains("mine") && !above.contains("## Mine"),
        "{out}"
    );
    assert!(below.contains("## Mine\n\nAbove, on purpose.\n"), "{out}");
}

/// Every state's note, read back, shows no change where the daemon owns
/// the note: otherwise untouched notes would be tampered or rewritten.
#[test]
fn untouched_notes_show_no_change_in_any_state() {
    let tz = TimeZone::fixed(jiff::tz::offset(-7));
    let run = RunResult {
        exit_code: Some(3),
        duration_ms: 5,
        output: "## History\n- [x] Approve\n".into(),
        truncated: false,
        error: None,
    };
    let decided = Decision {
        approved: true,
        by: "cli:alice".into(),
        at: t(60),
        reason: None,
    };
    let states = [
        Status::Pending,
        Status::Approved {
            decision: decided.clone(),
        },
        Status::Executing {
            decision: decided.clone(),
            started: t(61),
        },
        Status::Failed(Box::new(Ended {
            decision: decided.clone(),
            executed_at: Some(t(62)),
            run,
        })),
        Status::Rejected {
            decision: Decision {
                approved: false,
                ..decided
            },
        },
        Status::Tampered,
    ];
    for status in states {
        let mut req = request();
        req.sub.rationale = None;
        req.sub.signals.clear();
        req.status = status;
        let text = render(&req, &["a warning".into()], None, &tz);
        let view = parse(&text).unwrap();
        let changes = crate::note::changes(&req, &view, &tz, true);
        assert_eq!(changes, Default::default(), "{}\n{text}", req.status.name());
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (-1e12f64..1e12).prop_map(|f| json!(f)),
            ".{0,40}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(".{0,12}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever text the requester sends, the note's properties read
        /// back exactly as sent: the YAML quoting never changes a value.
        #[test]
        fn properties_read_back_as_written(summary in "(?s).{0,80}", rationale in "(?s).{0,80}", by in "(?s).{1,30}") {
            let mut req = request();
            req.sub.summary = summary.clone();
            req.sub.rationale = Some(rationale.clone());
            req.sub.requested_by = by.clone();
            let view = parse(&render(&req, &[], None, &TimeZone::UTC)).unwrap();
            prop_assert_eq!(view.props.text("summary").unwrap_or_default(), summary);
            prop_assert_eq!(view.props.text("rationale").unwrap_or_default(), rationale);
            prop_assert_eq!(view.props.text("requested_by").unwrap_or_default(), by);
            prop_assert_eq!(view.hitl_id.as_deref(), Some("c3adb486466f"));
            prop_assert!(!view.ticked_approve && !view.ticked_reject, "text became a gesture");
            let changed = crate::note::changes(&req, &view, &TimeZone::UTC, true).what;
            prop_assert!(changed.is_empty(), "an untouched note reads as changed: {:?}", changed);
        }

        /// Any payload shown in a note hashes back to the journal's hash,
        /// so an untouched note is never taken as tampered.
        #[test]
        fn shown_payload_matches_the_journal(payload in json_value()) {
            let mut req = request();
            req.sub.payload_sha256 = crate::payload::sha256(&payload);
            req.sub.payload = payload.into();
            let view = parse(&render(&req, &[], None, &TimeZone::UTC)).unwrap();
            let shown: serde_json::Value = serde_json::from_str(view.payload_block.as_deref().unwrap()).unwrap();
            prop_assert_eq!(crate::payload::sha256(&shown), req.sub.payload_sha256.clone());
            let changed = crate::note::changes(&req, &view, &TimeZone::UTC, true).what;
            prop_assert!(changed.is_empty(), "an untouched note reads as changed: {:?}", changed);
        }
    }
}
