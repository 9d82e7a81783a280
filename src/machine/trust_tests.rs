//! The trust gate, input by input: codes, authenticator steps, quorums and
//! the undo window, with no files and no clock.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::request::Source;
use crate::trust::{Keys, code, totp};

const CONFIG: &str = r#"
notify:
  - { name: phone, kind: webhook, url: "http://127.0.0.1:9/x" }
approvers:
  - alice
  - { user: bob, code_via: [phone] }
  - carol
rules:
  - { name: coded, when: { type: pay }, decision: require, approval: code, code_via: [phone, totp] }
  - { name: two, when: { type: two }, decision: require, approvals: 2 }
  - { name: slow, when: { type: slow }, decision: require, grace: 30s }
handlers:
  pay: { command: [/bin/true] }
  two: { command: [/bin/true] }
  slow: { command: [/bin/true] }
"#;

const SECRET: &[u8] = b"12345678901234567890";

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn machine() -> Machine {
    let config = Arc::new(Config::parse(CONFIG, "test").unwrap());
    let mut m = Machine::replay(config, &[]).unwrap();
    m.set_keys(Arc::new(Keys {
        codes: [9; 32],
        totp: Some(SECRET.to_vec()),
    }));
    m
}

fn submit(m: &mut Machine, id: &str, action: &str) -> Step {
    let step = m.handle(
        Input::Submit(NewRequest {
            id: id.into(),
            action: action.into(),
            payload: json!({ "n": 1 }),
            summary: None,
            rationale: None,
            requested_by: "cli:agent".into(),
            timeout: Some(Duration::from_secs(3600)),
            expires: None,
            file_name: None,
            source: Source::Cli,
            drop_in_sha256: None,
            notify_requester: None,
            key: None,
        }),
        t(0),
    );
    assert!(matches!(step.reply, Some(Ok(_))), "{:?}", step.reply);
    step
}

fn approve(m: &mut Machine, id: &str, user: &str, code: Option<&str>, at: i64) -> Step {
    m.handle(
        Input::Decide(Decide {
            id: id.into(),
            approve: true,
            reason: None,
            by: Actor::Cli {
                user: user.into(),
                agent: None,
            },
            gesture: Gesture::CommandLine,
            code: code.map(String::from),
        }),
        t(at),
    )
}

fn the_code(m: &Machine, id: &str, approver: Option<&str>) -> String {
    let sha = &m.get(id).unwrap().sub.payload_sha256;
    code::derive(&[9; 32], id, sha, approver)
}

fn names(step: &Step) -> Vec<&'static str> {
    step.events.iter().map(|e| e.kind.name()).collect()
}

fn status(m: &Machine, id: &str) -> &'static str {
    m.get(id).unwrap().status.name()
}

#[test]
fn a_coded_request_sends_its_codes_and_an_approval_without_one_changes_nothing() {
    let mut m = machine();
    let step = submit(&mut m, "r1", "pay");
    let sends: Vec<_> = step
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendCodes { codes, .. } => Some(codes.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sends,
        vec![vec![
            (None, vec!["phone".to_string()]),
            (Some("bob".to_string()), vec!["phone".to_string()]),
        ]]
    );
    let step = approve(&mut m, "r1", "alice", None, 1);
    assert!(step.events.is_empty());
    assert!(matches!(step.reply, Some(Err(Refusal::CodeNeeded { .. }))));
    assert_eq!(status(&m, "r1"), "pending");
    let right = the_code(&m, "r1", None);
    let step = approve(&mut m, "r1", "alice", Some(&right), 2);
    assert_eq!(names(&step), ["endorsed", "approved", "executing"]);
}

#[test]
fn five_wrong_codes_reject_and_the_same_guess_read_twice_counts_once() {
    let mut m = machine();
    submit(&mut m, "r1", "pay");
    let step = approve(&mut m, "r1", "agent", Some("00000000"), 1);
    assert_eq!(names(&step), ["wrong_code"]);
    let again = approve(&mut m, "r1", "agent", Some("00000000"), 1);
    assert!(again.events.is_empty());
    for (i, guess) in ["00000001", "00000002", "00000003"].iter().enumerate() {
        let step = approve(&mut m, "r1", "agent", Some(guess), 2 + i as i64);
        assert_eq!(names(&step), ["wrong_code"]);
    }
    let step = approve(&mut m, "r1", "agent", Some("00000004"), 9);
    assert_eq!(names(&step), ["wrong_code", "rejected"]);
    assert_eq!(status(&m, "r1"), "rejected");
}

#[test]
fn an_authenticator_step_opens_one_request_only() {
    let mut m = machine();
    let mut journal = submit(&mut m, "r1", "pay").events;
    journal.extend(submit(&mut m, "r2", "pay").events);
    let now = t(5).as_second();
    let c = totp::code_at(SECRET, (now / 30) as u64);
    let step = approve(&mut m, "r1", "alice", Some(&c), 5);
    assert_eq!(names(&step), ["endorsed", "approved", "executing"]);
    journal.extend(step.events);
    let step = approve(&mut m, "r2", "alice", Some(&c), 5);
    assert_eq!(names(&step), ["wrong_code"]);
    assert_eq!(status(&m, "r2"), "pending");
    // Replayed from the journal, the step is still taken.
    let mut back = Machine::replay(m.config().clone(), &journal).unwrap();
    back.set_keys(m.keys().unwrap().clone());
    let step = approve(&mut back, "r2", "alice", Some(&c), 6);
    assert_eq!(names(&step), ["wrong_code"]);
}

#[test]
fn a_quorum_needs_distinct_approvers_and_one_rejection_rejects() {
    let mut m = machine();
    submit(&mut m, "q", "two");
    let step = approve(&mut m, "q", "alice", None, 1);
    assert_eq!(names(&step), ["endorsed"]);
    assert!(matches!(
        step.reply,
        Some(Err(Refusal::Counted { have: 1, .. }))
    ));
    let step = approve(&mut m, "q", "alice", None, 2);
    assert!(step.events.is_empty());
    assert!(matches!(
        step.reply,
        Some(Err(Refusal::AlreadyCounted { .. }))
    ));
    // Bob's own code names him, whoever types it.
    let bobs = the_code(&m, "q", Some("bob"));
    let step = approve(&mut m, "q", "alice", Some(&bobs), 3);
    assert_eq!(names(&step), ["endorsed", "approved", "executing"]);

    submit(&mut m, "q2", "two");
    approve(&mut m, "q2", "alice", None, 1);
    let step = m.handle(
        Input::Decide(Decide {
            id: "q2".into(),
            approve: false,
            reason: None,
            by: Actor::Vault,
            gesture: Gesture::Vault(vec![crate::request::VaultGesture::TickedReject]),
            code: None,
        }),
        t(2),
    );
    assert_eq!(names(&step), ["rejected"]);
}

#[test]
fn an_undo_window_holds_the_handler_and_a_rejection_in_it_revokes() {
    let mut m = machine();
    submit(&mut m, "g", "slow");
    let step = approve(&mut m, "g", "alice", None, 1);
    assert_eq!(names(&step), ["approved", "held"]);
    assert!(
        !step
            .effects
            .iter()
            .any(|e| matches!(e, Effect::StartHandler { .. }))
    );
    assert_eq!(m.next_deadline(), Some(t(31)));
    let step = m.handle(
        Input::Decide(Decide {
            id: "g".into(),
            approve: false,
            reason: Some("changed my mind".into()),
            by: Actor::Cli {
                user: "alice".into(),
                agent: None,
            },
            gesture: Gesture::CommandLine,
            code: None,
        }),
        t(10),
    );
    assert_eq!(names(&step), ["revoked"]);
    assert_eq!(status(&m, "g"), "rejected");
    assert_eq!(m.next_deadline(), None);

    submit(&mut m, "h", "slow");
    approve(&mut m, "h", "alice", None, 1);
    let step = m.handle(
        Input::Cancel {
            id: "h".into(),
            by: "cli:alice".into(),
            reason: None,
        },
        t(5),
    );
    assert_eq!(names(&step), ["revoked"]);
    assert_eq!(status(&m, "h"), "cancelled");
}

#[test]
fn an_undo_window_survives_a_restart_and_then_runs() {
    let mut m = machine();
    let mut journal = Vec::new();
    journal.extend(submit(&mut m, "g", "slow").events);
    journal.extend(approve(&mut m, "g", "alice", None, 1).events);
    let config = m.config().clone();
    let mut back = Machine::replay(config, &journal).unwrap();
    assert_eq!(back.next_deadline(), Some(t(31)));
    let step = back.recover(t(20), |_, _| false);
    assert!(step.events.is_empty(), "{:?}", names(&step));
    let step = back.handle(Input::Tick, t(31));
    assert_eq!(names(&step), ["executing"]);
    assert!(
        step.effects
            .iter()
            .any(|e| matches!(e, Effect::StartHandler { .. }))
    );
    assert_eq!(back.next_deadline(), None);
}

#[test]
fn the_trust_events_read_back_from_json_and_replay() {
    let mut m = machine();
    let mut journal = submit(&mut m, "q", "two").events;
    journal.extend(approve(&mut m, "q", "alice", Some("12345678"), 1).events);
    journal.extend(approve(&mut m, "q", "alice", None, 2).events);
    journal.extend(approve(&mut m, "q", "carol", None, 3).events);
    let mut more = submit(&mut m, "g", "slow").events;
    more.extend(approve(&mut m, "g", "alice", None, 4).events);
    let cancel = Input::Cancel {
        id: "g".into(),
        by: "cli:alice".into(),
        reason: None,
    };
    more.extend(m.handle(cancel, t(5)).events);
    journal.extend(more);
    let kinds: Vec<&str> = journal.iter().map(|e| e.kind.name()).collect();
    for want in ["wrong_code", "endorsed", "held", "revoked"] {
        assert!(kinds.contains(&want), "{kinds:?}");
    }
    for ev in &journal {
        let json = serde_json::to_value(&ev.kind).unwrap();
        let back: EventKind = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, ev.kind, "{json}");
    }
    let back = Machine::replay(m.config().clone(), &journal).unwrap();
    assert_eq!(back.get("q").unwrap().status.name(), "executing");
    assert!(
        back.get("q")
            .unwrap()
            .history
            .iter()
            .any(|(_, l)| l.contains("approval counted for carol"))
    );
}
