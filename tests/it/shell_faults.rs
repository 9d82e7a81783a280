//! The engine in-process (see `shell.rs`) meeting faults a test arranges
//! exactly: a handler task that panics.

use std::path::Path;

use hitl::engine::Clock;
use hitl::ipc::{Command, Reply};
use jiff::Timestamp;

use crate::shell::{InProcess, START, call, submit};
use crate::util::{Env, wait_for};

fn approve(state: &Path, id: &str) -> Reply {
    let cmd = Command::Decide {
        id: id.into(),
        approve: true,
        reason: Some("fine".into()),
    };
    call(state, &cmd).unwrap()
}

/// Armed in this process, `handler-task-panic` panics inside the next
/// handler task (once: `1*panic`), which tokio turns into a `JoinError`. Only
/// this test starts handlers in-process, so no other test's run can take it.
#[test]
fn a_handler_task_that_panics_ends_its_request_unknown_and_the_engine_goes_on() {
    let env = Env::new("");
    let start: Timestamp = START.parse().unwrap();
    let _daemon = InProcess::start(&env, Clock::manual(start));
    let lost = submit(&env.state, 600);
    fail::cfg("handler-task-panic", "1*panic").unwrap();
    approve(&env.state, &lost);
    wait_for("the lost run is journaled unknown", || {
        env.events(&lost).last().map(String::as_str) == Some("unknown")
    });
    fail::remove("handler-task-panic");
    assert_eq!(
        env.events(&lost),
        ["submitted", "approved", "executing", "unknown"]
    );
    let why = env
        .journal()
        .into_iter()
        .find(|e| e["request"] == lost && e["event"] == "unknown")
        .unwrap();
    assert!(
        why.to_string().contains("lost track of the handler"),
        "{why}"
    );
    assert!(env.runs().is_empty(), "its handler never ran");

    // The engine is still running: the next approval runs its handler.
    let next = submit(&env.state, 600);
    approve(&env.state, &next);
    wait_for("the next run is journaled", || {
        env.events(&next).last().map(String::as_str) == Some("executed")
    });
    assert_eq!(env.runs().len(), 1);
    assert!(env.runs()[0].starts_with(&format!("{next}|payment|")));
}
