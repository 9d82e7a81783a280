//! Table tests of how the machine reads a request's note: the head and the
//! daemon-owned properties, the deadline, and notes of settled requests.

use serde_json::json;

use super::tests::{cli_decision as decide, machine, names, new, note_input, status, t};
use super::*;

type NoteEdit = Box<dyn Fn(String) -> String>;

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
        assert!(matches!(
            &step.reply,
            Some(Err(Refusal::ExpiredFirst { .. }))
        ));
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

#[test]
fn a_warning_hitl_put_on_an_unreadable_note_is_cleared_not_tampered() {
    let mut m = machine();
    m.handle(
        Input::Submit(new("r", "payment", json!({"amount": 600}))),
        t(0),
    );
    let annotated = note_input(&m, "r", Folder::Pending, |s| {
        s.replacen("---\n# ", "---\n> [!warning] hitl: could not read\n\n# ", 1)
    });
    let step = m.handle(annotated, t(1));
    assert!(step.events.is_empty());
    assert_eq!(
        step.effects,
        [Effect::WriteNote {
            id: "r".into(),
            adopt: None
        }]
    );
}
