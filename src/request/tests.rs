//! The request's unit tests: the transition table, ids, and journals
//! written by earlier versions.

use std::sync::Arc;

use super::*;
use crate::config::Config;
use crate::machine::Machine;
use crate::payload::hex_sha256;

#[test]
fn tampered_events_of_old_journals_still_read() {
    let old = r#"{"event":"tampered","details":{"found_sha256":"ab"}}"#;
    let kind: EventKind = serde_json::from_str(old).unwrap();
    let want = EventKind::Tampered {
        found_sha256: Some("ab".into()),
        changed: Vec::new(),
    };
    assert_eq!(kind, want);
    assert_eq!(serde_json::to_string(&want).unwrap(), old);
}

#[test]
fn cancelled_events_of_old_journals_still_read() {
    let old = r#"{"event":"cancelled"}"#;
    let kind: EventKind = serde_json::from_str(old).unwrap();
    assert_eq!(kind, EventKind::Cancelled(None));
    let with_reason = EventKind::Cancelled(Some("not needed".into()));
    let line = serde_json::to_string(&with_reason).unwrap();
    assert_eq!(line, r#"{"event":"cancelled","details":"not needed"}"#);
    assert_eq!(
        serde_json::from_str::<EventKind>(&line).unwrap(),
        with_reason
    );
}

#[test]
fn ids_start_with_a_letter() {
    for _ in 0..200 {
        let id = super::new_id();
        assert_eq!(id.len(), 12);
        assert!(matches!(id.as_bytes()[0], b'a'..=b'f'), "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(super::is_id(&id), "{id}");
    }
}

#[test]
fn only_the_daemons_id_format_is_an_id() {
    for bad in [
        "",
        "../../x",
        "a1b2c3",
        "A1B2C3D4E5F6",
        "1a2b3c4d5e6f",
        "a1b2c3d4e5f6/",
        "a1b2c3d4e5g6",
    ] {
        assert!(!super::is_id(bad), "{bad}");
    }
    assert!(super::is_id("a1b2c3d4e5f6"));
}

/// One line of today's journal format, `{"seq", "time", "request", "actor",
/// "event", "details", "prev"}`; `details` exactly as journals hold them.
const OLD_JOURNAL: &[(&str, &str, &str)] = &[
    ("a", "agent:books", r#""event":"submitted","details":SUB_A"#),
    (
        "a",
        "vault",
        r#""event":"approved","details":{"reason":"ok","gesture":"ticked Approve","runs_handler":true}"#,
    ),
    (
        "a",
        "hitl",
        r#""event":"executing","details":{"command":["/bin/pay","--now"]}"#,
    ),
    (
        "a",
        "handler",
        r#""event":"executed","details":{"exit_code":0,"duration_ms":12,"output":"paid\n","truncated":false}"#,
    ),
    (
        "b",
        "cli:alice (agent: x)",
        r#""event":"submitted","details":SUB_B"#,
    ),
    (
        "b",
        "cli:alice (agent: x)",
        r#""event":"approved","details":{"reason":null,"gesture":"cli","runs_handler":false}"#,
    ),
    ("c", "cli:bob", r#""event":"submitted","details":SUB_C"#),
    (
        "c",
        "rule:small",
        r#""event":"approved","details":{"reason":null,"gesture":"rule","runs_handler":true}"#,
    ),
    (
        "c",
        "hitl",
        r#""event":"executing","details":{"command":["/bin/pay"]}"#,
    ),
    (
        "c",
        "hitl",
        r#""event":"unknown","details":{"why":"hitl stopped while the handler was running"}"#,
    ),
    (
        "c",
        "cli:bob",
        r#""event":"resolved","details":{"executed":false,"reason":"bank says no"}"#,
    ),
    ("d", "cli:bob", r#""event":"submitted","details":SUB_D"#),
    (
        "d",
        "vault",
        r#""event":"tampered","details":{"found_sha256":"ab"}"#,
    ),
    ("e", "cli:bob", r#""event":"submitted","details":SUB_E"#),
    (
        "e",
        "cli:bob",
        r#""event":"approved","details":{"reason":null,"gesture":"cli","runs_handler":true}"#,
    ),
    (
        "e",
        "hitl",
        r#""event":"executing","details":{"command":["/bin/pay"]}"#,
    ),
    (
        "e",
        "handler",
        r#""event":"failed","details":{"exit_code":null,"duration_ms":1000,"output":"","truncated":false,"error":"timed out after 1s; hitl ended it"}"#,
    ),
    ("f", "cli:bob", r#""event":"submitted","details":SUB_F"#),
    (
        "f",
        "rule:huge",
        r#""event":"rejected","details":{"reason":"denied by rule:huge","gesture":"rule"}"#,
    ),
];

fn submission(action: &str, rule: &str, source: &str) -> String {
    format!(
        r#"{{"action":"{action}","payload":{{"amount":5}},"payload_sha256":"{}","summary":"Pay 5","requested_by":"cli:bob","created":"2027-01-15T08:00:00Z","expires":"2027-01-15T09:00:00Z","risk":"low","signals":[{{"level":"medium","says":"new payee"}}],"rule":{rule},"file_name":"{action}-x.md","source":"{source}"}}"#,
        crate::payload::sha256(&serde_json::json!({"amount": 5}))
    )
}

/// Writes `OLD_JOURNAL` as a hash-chained file, as hitl wrote it.
fn old_journal(dir: &std::path::Path) -> std::path::PathBuf {
    let subs = [
        ("SUB_A", submission("payment", "\"large\"", "cli")),
        ("SUB_B", submission("memo", "null", "inbox")),
        ("SUB_C", submission("payment", "\"small\"", "drop-in")),
        ("SUB_D", submission("payment", "null", "cli")),
        ("SUB_E", submission("payment", "null", "cli")),
        ("SUB_F", submission("payment", "\"huge\"", "cli")),
    ];
    let mut prev = "0".repeat(64);
    let mut text = String::new();
    for (seq, (request, actor, kind)) in OLD_JOURNAL.iter().enumerate() {
        let mut kind = kind.to_string();
        for (name, sub) in &subs {
            kind = kind.replace(name, sub);
        }
        let time = format!("2027-01-15T08:00:{:02}Z", seq);
        let body = format!(
            r#"{{"seq":{},"time":"{time}","request":"{request}","actor":"{actor}",{kind},"prev":"{prev}"}}"#,
            seq + 1
        );
        let hash = hex_sha256(body.as_bytes());
        text.push_str(&format!(
            "{},\"hash\":\"{hash}\"}}\n",
            &body[..body.len() - 1]
        ));
        prev = hash;
    }
    let path = dir.join("journal.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn journals_written_before_the_status_change_replay_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let records = crate::journal::read(&old_journal(dir.path())).unwrap();
    assert_eq!(records.len(), OLD_JOURNAL.len());
    let config = Arc::new(Config::parse("default: require\n", "test").unwrap());
    let m = Machine::replay(config, records.iter().map(|r| &r.event)).unwrap();
    let status = |id: &str| m.get(id).unwrap().status.clone();
    let a = m.get("a").unwrap();
    let Status::Executed(ended) = &a.status else {
        panic!("{:?}", a.status)
    };
    assert_eq!(ended.run.exit_code, Some(0));
    assert_eq!(ended.decision.by, "vault");
    assert_eq!(ended.decision.reason.as_deref(), Some("ok"));
    assert_eq!(
        a.executed_at(),
        Some("2027-01-15T08:00:03Z".parse().unwrap())
    );
    assert_eq!((a.attempts, a.history.len()), (1, 4));
    assert_eq!(a.history[3].1, "executed: exit 0, 12 ms");
    assert!(matches!(status("b"), Status::Approved { .. }));
    assert!(status("b").is_final());
    let c = m.get("c").unwrap();
    assert_eq!(c.status.name(), "failed");
    assert_eq!(c.executed_at(), None);
    assert_eq!(
        c.result().unwrap().error.as_deref(),
        Some("settled by cli:bob: bank says no")
    );
    assert_eq!(
        c.history[4].1,
        "resolved as failed by cli:bob: bank says no"
    );
    assert_eq!(status("d"), Status::Tampered);
    assert_eq!(status("e").name(), "failed");
    assert_eq!(m.get("e").unwrap().result().unwrap().exit_code, None);
    let f = m.get("f").unwrap();
    assert_eq!(
        f.decision().map(|d| (d.approved, d.by.as_str())),
        Some((false, "rule:huge"))
    );
    // The shape on disk is stable: each event writes back as it was read.
    for (record, (_, _, kind)) in records.iter().zip(OLD_JOURNAL) {
        if !kind.contains("SUB_") {
            let written = serde_json::to_string(&record.event.kind).unwrap();
            assert_eq!(format!("{{{kind}}}"), written);
        }
    }
}

/// Every legal edge of the lifecycle, and the states nothing leads out of.
#[test]
fn the_transition_table() {
    let t = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
    let ev = |kind: EventKind| Event {
        time: t(1),
        request: "r".into(),
        actor: "cli:a".into(),
        kind,
    };
    let decision = |approved| Decision {
        approved,
        by: "cli:a".into(),
        at: t(1),
        reason: None,
    };
    let run = |code| RunResult {
        exit_code: Some(code),
        duration_ms: 1,
        output: String::new(),
        truncated: false,
        error: None,
    };
    let approve = |runs_handler| EventKind::Approved {
        reason: None,
        gesture: "cli".into(),
        runs_handler,
    };
    let to_run = Status::ApprovedToRun {
        decision: decision(true),
    };
    let executing = Status::Executing {
        decision: decision(true),
        started: t(1),
    };
    let unknown = Status::Unknown {
        decision: decision(true),
        why: "w".into(),
    };
    let ended = |code| -> Box<Ended> {
        Box::new(Ended {
            decision: decision(true),
            executed_at: Some(t(1)),
            run: run(code),
        })
    };
    let executing_ev = EventKind::Executing {
        command: vec!["x".into()],
    };
    let unknown_ev = EventKind::Unknown { why: "w".into() };
    let tampered = EventKind::Tampered {
        found_sha256: None,
        changed: vec![],
    };
    let rejected = EventKind::Rejected {
        reason: None,
        gesture: "cli".into(),
    };
    let legal = [
        (
            Status::Pending,
            approve(false),
            Status::Approved {
                decision: decision(true),
            },
        ),
        (Status::Pending, approve(true), to_run.clone()),
        (
            Status::Pending,
            rejected.clone(),
            Status::Rejected {
                decision: decision(false),
            },
        ),
        (Status::Pending, EventKind::Expired, Status::Expired),
        (
            Status::Pending,
            EventKind::Cancelled(Some("not needed".into())),
            Status::Cancelled {
                by: "cli:a".into(),
                at: t(1),
                reason: Some("not needed".into()),
            },
        ),
        (Status::Pending, tampered, Status::Tampered),
        (to_run.clone(), executing_ev.clone(), executing.clone()),
        (unknown.clone(), executing_ev.clone(), executing.clone()),
        (
            executing.clone(),
            EventKind::Executed(run(0)),
            Status::Executed(ended(0)),
        ),
        (
            executing.clone(),
            EventKind::Failed(run(1)),
            Status::Failed(ended(1)),
        ),
        (executing.clone(), unknown_ev.clone(), unknown.clone()),
        (to_run.clone(), unknown_ev.clone(), unknown.clone()),
    ];
    for (from, kind, want) in legal {
        assert_eq!(
            next(&from, &ev(kind.clone())),
            Ok(want),
            "{from:?} + {}",
            kind.name()
        );
    }
    let illegal = [
        (Status::Pending, executing_ev.clone()),
        (
            Status::Pending,
            EventKind::Resolved {
                executed: true,
                reason: "r".into(),
            },
        ),
        (to_run.clone(), approve(true)),
        (to_run, EventKind::Cancelled(None)),
        (executing.clone(), executing_ev.clone()),
        (executing, EventKind::Expired),
        (unknown, rejected),
        (
            Status::Approved {
                decision: decision(true),
            },
            executing_ev,
        ),
        (Status::Expired, approve(true)),
        (Status::Executed(ended(0)), unknown_ev),
    ];
    for (from, kind) in illegal {
        let got = next(&from, &ev(kind.clone()));
        assert!(got.is_err(), "{from:?} + {} gave {got:?}", kind.name());
    }
}

#[test]
fn a_filing_changes_no_state_and_only_a_settled_request_is_filed() {
    let ev = Event {
        time: Timestamp::from_second(1_800_000_000).unwrap(),
        request: "r".into(),
        actor: Actor::Hitl,
        kind: EventKind::Filed {
            folder: "Done/2026-11".into(),
        },
    };
    assert_eq!(next(&Status::Expired, &ev), Ok(Status::Expired));
    assert!(next(&Status::Pending, &ev).is_err());
    let line = crate::note::history::line(&ev);
    assert!(crate::note::history::is_filing(&line), "{line}");
    let old = r#"{"event":"filed","details":{"folder":"Done/2026-11"}}"#;
    assert_eq!(serde_json::to_string(&ev.kind).unwrap(), old);
}

#[test]
fn code_deliveries_and_a_record_only_last_event_are_kept_in_the_request_for_a_checkpoint() {
    let sub: Submission = serde_json::from_str(&submission("payment", "null", "cli")).unwrap();
    let t = Timestamp::from_second(1_800_000_000).unwrap();
    let ev = |kind| Event {
        time: t,
        request: "r".into(),
        actor: Actor::Hitl,
        kind,
    };
    let notified = |event: &str, channel: &str| {
        ev(EventKind::Notified {
            channel: channel.into(),
            event: event.into(),
            attempts: 1,
        })
    };
    let mut requests = BTreeMap::new();
    apply(&mut requests, &ev(EventKind::Submitted(Box::new(sub)))).unwrap();
    assert!(!requests["r"].last_record_only);
    for e in [
        notified("pending", "phone"),
        notified("code", "phone"),
        notified("code for ann", "ann-phone"),
        notified("code", "phone"),
    ] {
        apply(&mut requests, &e).unwrap();
    }
    let want = vec![
        ("code".to_string(), "phone".to_string()),
        ("code for ann".to_string(), "ann-phone".to_string()),
    ];
    assert_eq!(requests["r"].codes_delivered, want, "codes only, once each");
    assert!(requests["r"].last_record_only);
    // As a checkpoint stores it and reads it back.
    let line = serde_json::to_string(&requests["r"]).unwrap();
    let back: Request = serde_json::from_str(&line).unwrap();
    assert_eq!(back.codes_delivered, want);
    assert!(back.last_record_only);
    apply(&mut requests, &ev(EventKind::Expired)).unwrap();
    assert!(!requests["r"].last_record_only);
    // A request of a checkpoint written before these fields reads as none.
    let mut old: serde_json::Value = serde_json::from_str(&line).unwrap();
    let fields = old.as_object_mut().unwrap();
    fields.remove("codes_delivered");
    fields.remove("last_record_only");
    let old: Request = serde_json::from_value(old).unwrap();
    assert!(old.codes_delivered.is_empty() && !old.last_record_only);
}
