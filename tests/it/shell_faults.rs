//! The engine in-process (see `shell.rs`) meeting faults a test arranges
//! exactly: a handler task that panics, and the vault going away while a
//! deadline passes on the manual clock.

use std::path::Path;

use hitl::engine::Clock;
use hitl::ipc::{Command, Reply};
use jiff::{SignedDuration, Timestamp};

use crate::shell::{InProcess, START, call, event_time, reject, submit};
use crate::util::{Env, wait_for};

fn approve(state: &Path, id: &str) -> Reply {
    let cmd = Command::Decide {
        id: id.into(),
        approve: true,
        reason: Some("fine".into()),
        code: None,
    };
    call(state, &cmd).unwrap()
}

fn vault_available(state: &Path) -> bool {
    match call(state, &Command::Status).unwrap() {
        Reply::Status(info) => info["vault_available"] == true,
        other => panic!("not a status: {other:?}"),
    }
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

#[test]
fn a_deadline_and_a_decision_while_the_vault_is_away_reach_its_notes_when_it_is_back() {
    let env = Env::new("");
    let start: Timestamp = START.parse().unwrap();
    let daemon = InProcess::start(&env, Clock::manual(start));
    let expires = submit(&env.state, 60);
    let decided = submit(&env.state, 600);
    env.wait_note(&expires, "Pending_Approval", "pending");
    env.wait_note(&decided, "Pending_Approval", "pending");

    let away = env.dir.path().join("vault-away");
    std::fs::rename(&env.vault, &away).unwrap();
    wait_for("the vault is noticed away", || !vault_available(&env.state));

    // The deadline passes while the vault is away...
    daemon.clock.advance(SignedDuration::from_secs(60));
    wait_for("the request expires", || {
        event_time(&env, &expires, "expired").is_some()
    });
    assert_eq!(
        event_time(&env, &expires, "expired"),
        Some(start + SignedDuration::from_secs(60))
    );
    // ...and a decision from the CLI is taken as ever.
    let reply = reject(&env.state, &decided);
    assert!(
        matches!(&reply, Reply::Request { status: Some(s), .. } if s == "rejected"),
        "{reply:?}"
    );
    assert_eq!(env.events(&decided), ["submitted", "rejected"]);
    assert!(
        !env.vault.exists(),
        "nothing was written where the vault was"
    );
    assert!(
        away.join("Pending_Approval").read_dir().unwrap().count() == 2,
        "the notes away were left alone"
    );

    std::fs::rename(&away, &env.vault).unwrap();
    wait_for("the vault is back", || vault_available(&env.state));
    env.wait_note(&expires, "Done", "expired");
    env.wait_note(&decided, "Done", "rejected");
    assert!(
        env.folder("Pending_Approval")
            .read_dir()
            .unwrap()
            .next()
            .is_none()
    );
}
