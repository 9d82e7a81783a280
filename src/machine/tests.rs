//! Table tests of the pure transition function: (state, input) → (events,
//! effects), no files and no clock.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::note;
use crate::request::RunResult;

const CONFIG: &str = r#"
rules:
  - { name: huge, when: { amount: { gt: 10000 } }, decision: deny }
  - { name: large, when: { type: payment, amount: { gte: 500 } }, decision: require }
  - { name: small, when: { type: payment }, decision: auto }
default: require
reject_reason_required: false
handlers:
  payment: { command: [/bin/true] }
  refund: { command: [/bin/true], idempotent: true }
"#;

pub(super) fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

/// Notes are shown in a zone other than UTC, so that comparing dates by
/// the instant they denote is exercised.
pub(super) fn tz() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::fixed(jiff::tz::offset(3))
}

pub(super) fn machine() -> Machine {
    let config = Arc::new(Config::parse(CONFIG, "test").unwrap());
    let mut m = Machine::replay(config, &[]).unwrap();
    m.set_time_zone(tz());
    m
}

pub(super) fn new(id: &str, action: &str, payload: serde_json::Value) -> NewRequest {
    NewRequest {
        id: id.into(),
        action: action.into(),
        payload,
        summary: None,
        rationale: None,
        requested_by: "cli:test".into(),
        timeout: Some(Duration::from_secs(60)),
        expires: None,
        file_name: None,
        source: crate::request::Source::Cli,
        drop_in_sha256: None,
    }
}

pub(super) fn names(step: &Step) -> Vec<&'static str> {
    step.events.iter().map(|e| e.kind.name()).collect()
}

pub(super) fn status(m: &Machine, id: &str) -> &'static str {
    m.get(id).unwrap().status.name()
}

#[test]
fn rules_decide_at_submission() {
    let cases = [
        (
            "payment",
            json!({"amount": 20000}),
            vec!["submitted", "rejected"],
            "rejected",
        ),
        (
            "payment",
            json!({"amount": 600}),
            vec!["submitted"],
            "pending",
        ),
        (
            "payment",
            json!({"amount": 5}),
            vec!["submitted", "approved", "executing"],
            "executing",
        ),
        ("email", json!({}), vec!["submitted"], "pending"),
    ];
    for (action, payload, events, want) in cases {
        let mut m = machine();
        let step = m.handle(Input::Submit(new("r1", action, payload.clone())), t(0));
        assert_eq!(names(&step), events, "{action} {payload}");
        assert_eq!(status(&m, "r1"), want);
        assert_eq!(step.reply, Some(Ok("r1".into())));
    }
}

#[test]
fn auto_and_deny_are_journaled_with_the_rule_name() {
    let mut m = machine();
    let step = m.handle(
        Input::Submit(new("a", "payment", json!({"amount": 5}))),
        t(0),
    );
    assert_eq!(step.events[1].actor.to_string(), "rule:small");
    assert!(
        step.effects
            .iter()
            .any(|e| matches!(e, Effect::StartHandler { id, .. } if id == "a"))
    );
    let step = m.handle(
        Input::Submit(new("d", "payment", json!({"amount": 50000}))),
        t(0),
    );
    assert_eq!(step.events[1].actor.to_string(), "rule:huge");
}

#[test]
fn ids_are_never_reused() {
    let mut m = machine();
    m.handle(Input::Submit(new("x", "email", json!({}))), t(0));
    let step = m.handle(Input::Submit(new("x", "email", json!({}))), t(0));
    assert!(step.events.is_empty());
    assert!(matches!(step.reply, Some(Err(_))));
}

#[test]
fn deadlines_expire_pending_requests_only() {
    let mut m = machine();
    m.handle(Input::Submit(new("x", "email", json!({}))), t(0));
    assert_eq!(m.next_deadline(), Some(t(60)));
    assert!(m.handle(Input::Tick, t(59)).events.is_empty());
    assert_eq!(names(&m.handle(Input::Tick, t(60))), ["expired"]);
    assert_eq!(m.next_deadline(), None);
    let step = m.handle(
        Input::Decide(Decide {
            id: "x".into(),
            approve: true,
            reason: None,
            by: "cli".into(),
            gesture: "cli".into(),
        }),
        t(61),
    );
    assert!(step.events.is_empty());
    assert_eq!(
        step.reply,
        Some(Err(Refusal::NotPending {
            id: "x".into(),
            status: "expired"
        }))
    );
}

pub(super) fn note_input(
    m: &Machine,
    id: &str,
    folder: Folder,
    edit: impl Fn(String) -> String,
) -> Input {
    let req = m.get(id).unwrap();
    let text = edit(note::render(req, &[], None, &tz()));
    Input::Note(SeenNote {
        path: PathBuf::from("Pending_Approval/n.md"),
        folder,
        view: note::parse(&text),
        tracked: Some(id.into()),
        fresh_id: "fresh".into(),
    })
}

#[test]
fn vault_gestures_table() {
    let same = |s: String| s;
    type Edit = Box<dyn Fn(String) -> String>;
    let cases: Vec<(&str, Folder, Edit, &str)> = vec![
        (
            "move approved",
            Folder::Approved,
            Box::new(same),
            "executing",
        ),
        (
            "move rejected",
            Folder::Rejected,
            Box::new(same),
            "rejected",
        ),
        (
            "status",
            Folder::Pending,
            Box::new(|s| s.replace("status: pending", "status: APPROVED")),
            "executing",
        ),
        (
            "status reject",
            Folder::Pending,
            Box::new(|s| s.replace("status: pending", "status: rejected")),
            "rejected",
        ),
        (
            "tick",
            Folder::Pending,
            Box::new(|s| s.replace("- [ ] Approve", "- [x] Approve")),
            "executing",
        ),
        (
            "tick reject",
            Folder::Pending,
            Box::new(|s| s.replace("- [ ] Reject", "- [X] Reject")),
            "rejected",
        ),
        (
            "both ticked",
            Folder::Pending,
            Box::new(|s| s.replace("[ ]", "[x]")),
            "pending",
        ),
        (
            "moved approved, status rejected",
            Folder::Approved,
            Box::new(|s| s.replace("status: pending", "status: rejected")),
            "pending",
        ),
        (
            "unknown word",
            Folder::Pending,
            Box::new(|s| s.replace("status: pending", "status: yes please")),
            "pending",
        ),
        ("nothing", Folder::Pending, Box::new(same), "pending"),
        (
            "tampered",
            Folder::Approved,
            Box::new(|s| s.replace("\"amount\": 600", "\"amount\": 6000")),
            "tampered",
        ),
    ];
    for (what, folder, edit, want) in cases {
        let mut m = machine();
        m.handle(
            Input::Submit(new("r", "payment", json!({"amount": 600}))),
            t(0),
        );
        let step = m.handle(note_input(&m, "r", folder, edit), t(1));
        assert_eq!(status(&m, "r"), want, "{what}: {:?}", step.events);
        if want == "pending" && what != "nothing" {
            assert!(!m.warnings("r").is_empty(), "{what} shows a warning");
            assert!(
                step.effects.contains(&Effect::WriteNote {
                    id: "r".into(),
                    adopt: None
                }),
                "{what}"
            );
        }
    }
}

#[test]
fn unknown_hitl_id_is_reported_not_trusted() {
    let mut m = machine();
    let text = "---\nhitl_id: forged\nstatus: approved\n---\n";
    let step = m.handle(
        Input::Note(SeenNote {
            path: "Approved/f.md".into(),
            folder: Folder::Approved,
            view: note::parse(text),
            tracked: None,
            fresh_id: "n".into(),
        }),
        t(0),
    );
    assert!(step.events.is_empty());
    assert!(matches!(&step.effects[..], [Effect::Annotate { .. }]));
}

#[test]
fn drop_in_never_approves_itself() {
    let mut m = machine();
    let text = "---\ntype: approval_request\naction: payment\namount: 500.00\nrecipient: Client A\nreason: Invoice 1234\nstatus: approved\n---\n## Decision\n- [x] Approve\n";
    let step = m.handle(
        Input::Note(SeenNote {
            path: "Pending_Approval/PAY.md".into(),
            folder: Folder::Pending,
            view: note::parse(text),
            tracked: None,
            fresh_id: "d1".into(),
        }),
        t(0),
    );
    assert_eq!(names(&step), ["submitted"]);
    let req = m.get("d1").unwrap();
    assert_eq!(
        req.sub.payload,
        json!({"amount": 500.0, "recipient": "Client A"})
    );
    assert_eq!(req.sub.rationale.as_deref(), Some("Invoice 1234"));
    assert_eq!(req.sub.file_name, "PAY.md");
    assert_eq!(status(&m, "d1"), "pending");
}

#[test]
fn recovery_marks_running_handlers_unknown_and_starts_unstarted_ones() {
    let mut m = machine();
    m.handle(
        Input::Submit(new("run", "payment", json!({"amount": 5}))),
        t(0),
    );
    let step = m.recover(t(1), |_, _| true);
    assert_eq!(names(&step), ["unknown"]);
    let step = m.handle(
        Input::Resolve {
            id: "run".into(),
            executed: true,
            reason: "checked the bank".into(),
            by: "cli".into(),
        },
        t(2),
    );
    assert_eq!(names(&step), ["resolved"]);
    assert_eq!(status(&m, "run"), "executed");
}

#[test]
fn a_result_for_a_request_not_executing_is_ignored() {
    let mut m = machine();
    m.handle(Input::Submit(new("p", "email", json!({}))), t(0));
    let result = RunResult {
        exit_code: Some(0),
        duration_ms: 1,
        output: String::new(),
        truncated: false,
        error: None,
    };
    let step = m.handle(
        Input::HandlerDone {
            id: "p".into(),
            ran: Ran {
                outcome: Outcome::Exited(0),
                result,
            },
        },
        t(1),
    );
    assert!(step.events.is_empty());
    assert_eq!(status(&m, "p"), "pending");
}

/// The run markers tell recovery which journaled runs ever started.
#[test]
fn recovery_starts_a_journaled_run_that_never_started_without_spending_a_rerun() {
    type Case = (
        &'static str,
        &'static [u32],
        &'static [&'static str],
        bool,
        u32,
    );
    // (action, attempts whose marker exists, events, starts a handler, attempts after)
    let cases: [Case; 4] = [
        ("payment", &[], &[], true, 1),
        ("payment", &[1], &["unknown"], false, 1),
        ("refund", &[], &[], true, 1),
        ("refund", &[1], &["unknown", "executing"], true, 2),
    ];
    for (action, markers, events, starts, attempts) in cases {
        let mut m = machine();
        m.handle(Input::Submit(new("r", action, json!({"amount": 5}))), t(0));
        if action == "refund" {
            let decide = Input::Decide(Decide {
                id: "r".into(),
                approve: true,
                reason: None,
                by: "cli".into(),
                gesture: "test".into(),
            });
            m.handle(decide, t(0));
        }
        assert_eq!(status(&m, "r"), "executing");
        let step = m.recover(t(1), |id, n| id == "r" && markers.contains(&n));
        let what = format!("{action} with markers {markers:?}");
        assert_eq!(names(&step), events, "{what}");
        let started = step
            .effects
            .iter()
            .any(|e| matches!(e, Effect::StartHandler { id, .. } if id == "r"));
        assert_eq!(started, starts, "{what}");
        assert_eq!(m.get("r").unwrap().attempts, attempts, "{what}");
    }
}

#[test]
fn a_handler_start_carries_the_approved_payload_and_its_journaled_attempt() {
    let mut m = machine();
    let step = m.handle(
        Input::Submit(new("a", "payment", json!({"amount": 5}))),
        t(0),
    );
    let job = step
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::StartHandler { id, job } if id == "a" => Some(job.clone()),
            _ => None,
        })
        .expect("an auto-approved payment starts its handler");
    assert_eq!(job.action, "payment");
    assert_eq!(job.payload_json, r#"{"amount":5}"#);
    assert_eq!(job.decided_by, "rule:small");
    assert_eq!(job.attempt, m.get("a").unwrap().attempts);
    assert_eq!(job.attempt, 1);
    let executing = step.events.iter().find_map(|e| match &e.kind {
        EventKind::Executing { command } => Some(command.clone()),
        _ => None,
    });
    assert_eq!(executing, Some(job.command));
}
