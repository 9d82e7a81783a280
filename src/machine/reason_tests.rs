//! Table tests of the reason policy (`reason:` globally and per rule): a
//! decision without a required reason is not taken, by CLI or in the vault.

use std::sync::Arc;

use serde_json::json;

use super::tests::{names, new, note_input, status, t, tz};
use super::*;

fn machine_with(global: &str, rule: &str) -> Machine {
    let text = format!(
        "rules:\n  - {{ name: large, when: {{ amount: {{ gte: 500 }} }}, decision: require{rule} }}\ndefault: require\n{global}"
    );
    let config = Arc::new(Config::parse(&text, "test").unwrap());
    let mut m = Machine::replay(config, &[]).unwrap();
    m.set_time_zone(tz());
    m
}

fn decide(approve: bool, reason: Option<&str>) -> Input {
    Input::Decide(Decide {
        id: "r".into(),
        approve,
        reason: reason.map(String::from),
        by: "cli".into(),
        gesture: "cli".into(),
        code: None,
    })
}

#[test]
fn a_decision_without_a_required_reason_is_not_taken() {
    // (global, per rule, amount, approve, reason, taken)
    let cases = [
        ("", "", 600, false, None, true),
        ("reason: required_for_reject", "", 600, false, None, false),
        (
            "reason: required_for_reject",
            "",
            600,
            false,
            Some("  "),
            false,
        ),
        (
            "reason: required_for_reject",
            "",
            600,
            false,
            Some("dup"),
            true,
        ),
        ("reason: required_for_reject", "", 600, true, None, true),
        ("reject_reason_required: true", "", 600, false, None, false),
        ("reason: required", "", 600, true, None, false),
        ("reason: required", "", 600, true, Some("ok"), true),
        ("", ", reason: required", 600, true, None, false),
        ("", ", reason: required", 10, true, None, true),
        (
            "reason: required",
            ", reason: optional",
            600,
            true,
            None,
            true,
        ),
    ];
    for (global, rule, amount, approve, reason, taken) in cases {
        let mut m = machine_with(global, rule);
        m.handle(
            Input::Submit(new("r", "payment", json!({"amount": amount}))),
            t(0),
        );
        let step = m.handle(decide(approve, reason), t(1));
        let case = format!("{global:?} {rule:?} {amount} approve={approve} {reason:?}");
        if taken {
            assert_eq!(step.reply, Some(Ok("r".into())), "{case}");
        } else {
            assert_eq!(
                step.reply,
                Some(Err(Refusal::ReasonRequired { approve })),
                "{case}"
            );
            assert!(names(&step).is_empty(), "{case}");
            assert_eq!(status(&m, "r"), "pending", "{case}");
        }
    }
}

#[test]
fn a_vault_decision_without_a_required_reason_says_why_in_the_note() {
    let mut m = machine_with("reason: required", "");
    m.handle(
        Input::Submit(new("r", "payment", json!({"amount": 600}))),
        t(0),
    );
    let tick = |s: String| s.replace("- [ ] Approve", "- [x] Approve");
    let input = note_input(&m, "r", Folder::Pending, tick);
    let step = m.handle(input, t(1));
    assert!(names(&step).is_empty());
    assert_eq!(status(&m, "r"), "pending");
    assert!(
        m.warnings("r")[0].contains("needs a reason"),
        "{:?}",
        m.warnings("r")
    );
    let with_reason = |s: String| {
        s.replace("- [ ] Approve", "- [x] Approve").replace(
            "status: pending",
            "status: pending\ndecision_reason: checked with Bob",
        )
    };
    let input = note_input(&m, "r", Folder::Pending, with_reason);
    let step = m.handle(input, t(2));
    assert_eq!(names(&step)[0], "approved");
    assert!(m.warnings("r").is_empty());
}
