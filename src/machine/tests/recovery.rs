//! Start-up recovery, resolving `unknown`, and what a handler start
//! carries.

use super::*;

fn resolve(id: &'static str) -> Act {
    input(move |_| Input::Resolve {
        id: id.into(),
        executed: true,
        reason: "checked the bank".into(),
        by: "cli".into(),
    })
}

#[test]
fn recovery_marks_running_handlers_unknown_and_a_person_resolves_them() {
    let rows = vec![
        row(
            "a run that started and never reported is unknown",
            vec![pay("run", 5)],
            recover(&[("run", 1)]).at(1),
            &["unknown"],
            &[("write", "run")],
            None,
        )
        .also(Also::Status("run", "unknown")),
        row(
            "a person says it ran",
            vec![pay("run", 5), recover(&[("run", 1)]).at(1)],
            resolve("run").at(2),
            &["resolved"],
            &[("write", "run")],
            ok("run"),
        )
        .also(Also::Status("run", "executed")),
        row(
            "only an unknown request can be resolved",
            vec![pay("run", 600)],
            resolve("run").at(1),
            &[],
            &[],
            refused(Refusal::NotUnknown {
                id: "run".into(),
                status: "pending",
            }),
        ),
    ];
    assert_eq!(run(rows), 11);
}

/// The run markers tell recovery which journaled runs ever started.
#[test]
fn recovery_starts_a_journaled_run_that_never_started_without_spending_a_rerun() {
    // A refund (idempotent) needs a person; approved, it runs.
    let refund = || {
        vec![
            submit("r", "refund", json!({"amount": 5})),
            decide("r", true),
        ]
    };
    let rows = vec![
        row(
            "payment, never started: starts it",
            vec![pay("r", 5)],
            recover(&[]).at(1),
            &[],
            &[("start", "r")],
            None,
        )
        .also(Also::Attempts("r", 1))
        .also(Also::Status("r", "executing")),
        row(
            "payment, started: unknown",
            vec![pay("r", 5)],
            recover(&[("r", 1)]).at(1),
            &["unknown"],
            &[("write", "r")],
            None,
        )
        .also(Also::Attempts("r", 1)),
        row(
            "refund, never started: starts it",
            refund(),
            recover(&[]).at(1),
            &[],
            &[("start", "r")],
            None,
        )
        .also(Also::Attempts("r", 1))
        .also(Also::Status("r", "executing")),
        row(
            "refund, started: its one re-run",
            refund(),
            recover(&[("r", 1)]).at(1),
            &["unknown", "executing"],
            &[("start", "r"), ("write", "r")],
            None,
        )
        .also(Also::Attempts("r", 2)),
    ];
    assert_eq!(run(rows), 18);
}

#[test]
fn a_handler_start_carries_the_approved_payload_and_its_journaled_attempt() {
    let mut m = machine();
    let step = perform(&mut m, &pay("a", 5));
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

#[test]
fn open_requests_rebuilt_packed_are_the_requests_the_journal_made() {
    // Enough requests for several B-tree nodes, some decided, some with
    // a History of more than one line.
    let mut m = machine();
    let mut journal = Vec::new();
    for i in 0..40u64 {
        let id: &'static str = Box::leak(format!("r{i:02}").into_boxed_str());
        journal.extend(perform(&mut m, &pay(id, 500 + i)).events);
        if i % 3 == 0 {
            journal.extend(perform(&mut m, &decide(id, i % 2 == 0)).events);
        }
    }
    let mut inserted = BTreeMap::new();
    for ev in &journal {
        apply(&mut inserted, ev).unwrap();
    }
    let config = Arc::new(Config::parse(CONFIG, "test").unwrap());
    let rebuilt = Machine::replay(config, &journal).unwrap();
    assert_eq!(rebuilt.requests(), &inserted);
    assert_eq!(rebuilt.requests().len(), 40);
    for r in rebuilt.requests().values() {
        assert_eq!(r.history.capacity(), r.history.len(), "{}", r.id);
    }
}
