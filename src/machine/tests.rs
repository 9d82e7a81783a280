//! Table tests of the pure transition function: (state, input) → (events,
//! effects), no files and no clock.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::note;

const CONFIG: &str = r#"
rules:
  - { name: huge, when: { amount: { gt: 10000 } }, decision: deny }
  - { name: large, when: { type: payment, amount: { gte: 500 } }, decision: require }
  - { name: small, when: { type: payment }, decision: auto }
default: require
reject_reason_required: false
handlers:
  payment: { command: [/bin/true] }
"#;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

/// Notes are shown in a zone other than UTC, so that comparing dates by
/// the instant they denote is exercised.
fn tz() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::fixed(jiff::tz::offset(3))
}

fn machine() -> Machine {
    let config = Arc::new(Config::parse(CONFIG, "test").unwrap());
    let mut m = Machine::replay(config, &[]).unwrap();
    m.set_time_zone(tz());
    m
}

fn new(id: &str, action: &str, payload: serde_json::Value) -> NewRequest {
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
        source: "cli".into(),
    }
}

fn names(step: &Step) -> Vec<&'static str> {
    step.events.iter().map(|e| e.kind.name()).collect()
}

fn status(m: &Machine, id: &str) -> &'static str {
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
    assert_eq!(step.events[1].actor, "rule:small");
    assert!(
        step.effects
            .contains(&Effect::StartHandler { id: "a".into() })
    );
    let step = m.handle(
        Input::Submit(new("d", "payment", json!({"amount": 50000}))),
        t(0),
    );
    assert_eq!(step.events[1].actor, "rule:huge");
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
        Input::Decide {
            id: "x".into(),
            approve: true,
            reason: None,
            by: "cli".into(),
            gesture: "cli".into(),
        },
        t(61),
    );
    assert!(step.events.is_empty());
    assert_eq!(step.reply, Some(Err("request x is already expired".into())));
}

fn note_input(m: &Machine, id: &str, folder: Folder, edit: impl Fn(String) -> String) -> Input {
    let req = m.get(id).unwrap();
    let text = edit(note::render(req, &[], None, &tz()));
    Input::Note {
        path: PathBuf::from("Pending_Approval/n.md"),
        folder,
        view: note::parse(&text),
        tracked: Some(id.into()),
        fresh_id: "fresh".into(),
    }
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
        Input::Note {
            path: "Approved/f.md".into(),
            folder: Folder::Approved,
            view: note::parse(text),
            tracked: None,
            fresh_id: "n".into(),
        },
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
        Input::Note {
            path: "Pending_Approval/PAY.md".into(),
            folder: Folder::Pending,
            view: note::parse(text),
            tracked: None,
            fresh_id: "d1".into(),
        },
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
    let step = m.recover(t(1));
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
            result,
            interrupted: false,
        },
        t(1),
    );
    assert!(step.events.is_empty());
    assert_eq!(status(&m, "p"), "pending");
}

type NoteEdit = Box<dyn Fn(String) -> String>;

fn decide(id: &str, approve: bool) -> Input {
    Input::Decide {
        id: id.into(),
        approve,
        reason: None,
        by: "cli".into(),
        gesture: "cli".into(),
    }
}

/// Replaces the first line that starts with `prefix`.
fn line(text: &str, prefix: &str, new: &str) -> String {
    let old = text.lines().find(|l| l.starts_with(prefix)).unwrap();
    text.replacen(&format!("{old}\n"), &format!("{new}\n"), 1)
}

#[test]
fn the_deadline_binds_whenever_the_engine_gets_to_a_decision() {
    for late in [0, 1, 3600] {
        let mut m = machine();
        m.handle(
            Input::Submit(new("c", "payment", json!({"amount": 600}))),
            t(0),
        );
        m.handle(
            Input::Submit(new("v", "payment", json!({"amount": 700}))),
            t(0),
        );
        let step = m.handle(decide("c", true), t(60 + late));
        assert_eq!(names(&step), ["expired"], "cli, {late} s late");
        assert!(matches!(&step.reply, Some(Err(e)) if e.contains("expired")));
        assert!(
            !step
                .effects
                .iter()
                .any(|e| matches!(e, Effect::StartHandler { .. }))
        );
        let tick = note_input(&m, "v", Folder::Approved, |s| {
            s.replace("- [ ] Approve", "- [x] Approve")
        });
        let step = m.handle(tick, t(60 + late));
        assert_eq!(names(&step), ["expired"], "tick, {late} s late");
        assert_eq!((status(&m, "c"), status(&m, "v")), ("expired", "expired"));
    }
}

#[test]
fn only_gestures_change_a_pending_note_without_tampering() {
    type Edit = Box<dyn Fn(String) -> String>;
    let tick: fn(String) -> String = |s| s.replace("- [ ] Approve", "- [x] Approve");
    let untouched: Vec<(&str, Edit)> = vec![
        ("nothing", Box::new(|s| s)),
        (
            "properties re-quoted and reordered, expires with an offset",
            Box::new(|s| {
                let old = s.lines().find(|l| l.starts_with("summary: ")).unwrap();
                let value: String = serde_json::from_str(&old["summary: ".len()..]).unwrap();
                let moved = format!("---\nsummary: '{value}'\n");
                let s = line(&s, "summary: ", "");
                let s = line(&s, "expires: ", "expires: 2027-01-15T08:01:00Z");
                s.replacen("---\n", &moved, 1)
            }),
        ),
        (
            "human properties, reason, text and sections",
            Box::new(|s| {
                s.replacen(
                    "payload_sha256",
                    "reviewer: bob\ndecision_reason: ok\npayload_sha256",
                    1,
                )
                .replace("- [ ] Reject\n", "- [ ] Reject\n\nLooks right.\n")
                    + "\n## Mine\n\n```json\n{\"amount\": 1}\n```\n"
            }),
        ),
        (
            "trailing spaces, an extra blank line, CRLF",
            Box::new(|s| {
                s.replace("**Action:**", "\n**Action:**")
                    .replace("`large`.\n", "`large`.   \n")
                    .replace('\n', "\r\n")
            }),
        ),
        (
            "a warning hitl put at the top while the note was unreadable",
            Box::new(|s| s.replacen("---\n# ", "---\n> [!warning] hitl: could not read\n\n# ", 1)),
        ),
    ];
    for (what, edit) in untouched {
        let mut m = machine();
        m.handle(
            Input::Submit(new("r", "payment", json!({"amount": 600}))),
            t(0),
        );
        let step = m.handle(
            note_input(&m, "r", Folder::Pending, |s| tick(edit(s))),
            t(1),
        );
        assert_eq!(status(&m, "r"), "executing", "{what}: {:?}", step.events);
    }
}

#[test]
fn any_other_change_to_the_head_of_a_pending_note_is_tampered() {
    let block = "```json\n{\n  \"amount\": 600\n}\n```\n";
    let fake = "```json\n{\n  \"amount\": 6\n}\n```\n";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "comment",
            format!("<!--\n{block}-->\n{fake}"),
            "added above",
        ),
        ("second block", format!("{block}\n{fake}"), "added above"),
        (
            "tilde block",
            format!("~~~json\n{{}}\n~~~\n{block}"),
            "added above",
        ),
        ("payload", fake.to_string(), "payload block"),
    ];
    let edits: Vec<(&str, NoteEdit, &str)> = cases
        .into_iter()
        .map(|(what, new, says)| {
            let f: NoteEdit = Box::new(move |s| s.replacen(block, &new, 1));
            (what, f, says)
        })
        .chain([
            (
                "title",
                Box::new(|s: String| line(&s, "# ", "# Pay 6")) as NoteEdit,
                "title",
            ),
            (
                "callout",
                Box::new(|s| line(&s, "> [!", "> [!note] Risk: low")),
                "risk callout",
            ),
            (
                "summary line",
                Box::new(|s| line(&s, "**Action:**", "**Action:** `payment`")),
                "summary line",
            ),
            (
                "action",
                Box::new(|s| line(&s, "action: ", "action: refund")),
                "property `action`",
            ),
            (
                "risk",
                Box::new(|s| line(&s, "risk: ", "risk: low")),
                "property `risk`",
            ),
            (
                "expires",
                Box::new(|s| line(&s, "expires: ", "expires: 2099-01-01T00:00:00")),
                "property `expires`",
            ),
            (
                "expires gone",
                Box::new(|s| line(&s, "expires: ", "")),
                "`expires` was removed",
            ),
            (
                "decided_by added",
                Box::new(|s| line(&s, "risk: ", "risk: medium\ndecided_by: me")),
                "`decided_by` was added",
            ),
            (
                "sha",
                Box::new(|s| line(&s, "payload_sha256: ", "payload_sha256: abc")),
                "property `payload_sha256`",
            ),
            (
                "type",
                Box::new(|s| line(&s, "type: ", "type: note")),
                "property `type`",
            ),
        ])
        .collect();
    for (what, edit, says) in edits {
        let mut m = machine();
        m.handle(
            Input::Submit(new("r", "payment", json!({"amount": 600}))),
            t(0),
        );
        let input = note_input(&m, "r", Folder::Pending, |s| {
            edit(s).replace("- [ ] Approve", "- [x] Approve")
        });
        let step = m.handle(input, t(1));
        assert_eq!(names(&step), ["tampered"], "{what}");
        let EventKind::Tampered { changed, .. } = &step.events[0].kind else {
            unreachable!()
        };
        assert!(changed.join("; ").contains(says), "{what}: {changed:?}");
    }
}

#[test]
fn a_note_without_its_decision_section_takes_no_decision() {
    let mut m = machine();
    m.handle(
        Input::Submit(new("r", "payment", json!({"amount": 600}))),
        t(0),
    );
    let cut = note_input(&m, "r", Folder::Approved, |s| {
        s[..s.find("\n## Decision").unwrap()].to_string()
    });
    let step = m.handle(cut, t(1));
    assert!(step.events.is_empty());
    assert_eq!(m.warnings("r").len(), 1);
}

#[test]
fn settled_notes_get_their_daemon_properties_put_back() {
    let rewrite = |step: &Step| {
        step.effects.contains(&Effect::WriteNote {
            id: "r".into(),
            adopt: None,
        })
    };
    type Case = (&'static str, fn(String) -> String, bool);
    let cases: Vec<Case> = vec![
        ("untouched", |s| s, false),
        (
            "human text and property",
            |s| s.replacen("payload_sha256", "mine: 1\npayload_sha256", 1) + "\n## Mine\n",
            false,
        ),
        ("status", |s| line(&s, "status: ", "status: approved"), true),
        ("risk", |s| line(&s, "risk: ", "risk: low"), true),
        (
            "decided_by",
            |s| line(&s, "decided_by: ", "decided_by: mallory"),
            true,
        ),
        ("decided_at removed", |s| line(&s, "decided_at: ", ""), true),
        ("title", |s| line(&s, "# ", "# Something else"), true),
    ];
    for (what, edit, want) in cases {
        let mut m = machine();
        m.handle(
            Input::Submit(new("r", "payment", json!({"amount": 600}))),
            t(0),
        );
        m.handle(decide("r", false), t(1));
        let step = m.handle(note_input(&m, "r", Folder::Done, edit), t(2));
        assert!(step.events.is_empty(), "{what}");
        assert_eq!(rewrite(&step), want, "{what}");
    }
}
