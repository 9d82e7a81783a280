//! Submissions, ids, deadlines and handler results.

use super::*;
use crate::request::RunResult;

fn done(id: &'static str, code: i32) -> Act {
    input(move |_| {
        let result = RunResult {
            exit_code: Some(code),
            duration_ms: 1,
            output: String::new(),
            truncated: false,
            error: None,
        };
        Input::HandlerDone {
            id: id.into(),
            ran: Ran {
                outcome: Outcome::Exited(code),
                result,
            },
        }
    })
}

#[test]
fn rules_decide_at_submission() {
    let rows = vec![
        row(
            "over 10000 is denied by `huge`",
            vec![],
            pay("r1", 20000),
            &["submitted", "rejected"],
            &[("write", "r1"), ("write", "r1")],
            ok("r1"),
        )
        .also(Also::Status("r1", "rejected"))
        .also(Also::Actor(1, "rule:huge")),
        row(
            "a large payment needs a person",
            vec![],
            pay("r1", 600),
            &["submitted"],
            &[("write", "r1")],
            ok("r1"),
        )
        .also(Also::Status("r1", "pending")),
        row(
            "a small payment runs at once, approved by `small`",
            vec![],
            pay("r1", 5),
            &["submitted", "approved", "executing"],
            &[("start", "r1"), ("write", "r1")],
            ok("r1"),
        )
        .also(Also::Status("r1", "executing"))
        .also(Also::Actor(1, "rule:small")),
        row(
            "an action no rule names takes the default",
            vec![],
            submit("r1", "email", json!({})),
            &["submitted"],
            &[("write", "r1")],
            ok("r1"),
        )
        .also(Also::Status("r1", "pending")),
        row(
            "ids are never reused",
            vec![submit("x", "email", json!({}))],
            submit("x", "email", json!({})),
            &[],
            &[],
            refused(Refusal::IdTaken("x".into())),
        )
        .also(Also::Status("x", "pending")),
    ];
    assert_eq!(run(rows), 22);
}

#[test]
fn deadlines_expire_pending_requests_only() {
    let email = || submit("x", "email", json!({}));
    let rows = vec![
        row(
            "a pending request's deadline is its expiry",
            vec![],
            email(),
            &["submitted"],
            &[("write", "x")],
            ok("x"),
        )
        .also(Also::Deadline(Some(60))),
        row(
            "nothing expires before the deadline",
            vec![email()],
            tick().at(59),
            &[],
            &[],
            None,
        )
        .also(Also::Deadline(Some(60))),
        row(
            "at the deadline it expires",
            vec![email()],
            tick().at(60),
            &["expired"],
            &[("write", "x")],
            None,
        )
        .also(Also::Deadline(None))
        .also(Also::Status("x", "expired")),
        row(
            "an expired request can't be decided",
            vec![email(), tick().at(60)],
            decide("x", true).at(61),
            &[],
            &[],
            refused(Refusal::NotPending {
                id: "x".into(),
                status: "expired",
            }),
        ),
        row(
            "an approved request has no deadline any more",
            vec![pay("x", 600)],
            decide("x", true).at(1),
            &["approved", "executing"],
            &[("start", "x"), ("write", "x")],
            ok("x"),
        )
        .also(Also::Deadline(None)),
    ];
    assert_eq!(run(rows), 20);
}

#[test]
fn a_result_for_a_request_not_executing_is_ignored() {
    let rows = vec![
        row(
            "a pending request",
            vec![submit("p", "email", json!({}))],
            done("p", 0).at(1),
            &[],
            &[],
            refused(Refusal::NotExecuting("p".into())),
        )
        .also(Also::Status("p", "pending")),
        row(
            "no such request",
            vec![],
            done("p", 0),
            &[],
            &[],
            refused(Refusal::NotExecuting("p".into())),
        ),
        row(
            "a run that ended already",
            vec![pay("p", 5), done("p", 0)],
            done("p", 1).at(1),
            &[],
            &[],
            refused(Refusal::NotExecuting("p".into())),
        )
        .also(Also::Status("p", "executed")),
        row(
            "the running request's result is taken",
            vec![pay("p", 5)],
            done("p", 3).at(1),
            &["failed"],
            &[("write", "p")],
            None,
        )
        .also(Also::Status("p", "failed")),
    ];
    assert_eq!(run(rows), 15);
}
