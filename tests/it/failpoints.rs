//! The crash-test harness: the daemon is crashed (as by `kill -9`) at each
//! named failpoint of [`hitl::failpoints::ALL`], on a scenario that reaches
//! it, then restarted; once it has caught up, the invariants of
//! `invariants.rs` must hold. The test binary's `hitl` is built with the
//! `failpoints` feature (see Cargo.toml).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::invariants::{Daemon, assert_invariants_hold, list, log_tail, spawn_daemon};
use crate::util::{Env, wait_for};

/// What a scenario did before the crash, for the checks after it.
#[derive(Default)]
struct Before {
    /// Ids `hitl request` printed.
    acknowledged: BTreeSet<String>,
    /// Drop-in notes placed: each must become exactly one request.
    drop_ins: usize,
}

/// A scenario: brings the vault and state to the step `point` guards, with
/// the daemon down; then `armed` starts it with `point` armed and does what
/// reaches the step.
struct Scenario {
    before: fn(&mut Env, &mut Before),
    armed: fn(&Env, &mut Before),
    /// How the request made by `before` ends (`None`: no such request).
    ends: Option<&'static str>,
}

/// Runs `scenario`, checks the daemon died at `point`, restarts it, and
/// checks the invariants once it has caught up.
fn crash_test(point: &str, scenario: Scenario) {
    assert!(
        hitl::failpoints::ALL.contains(&point),
        "no failpoint {point}"
    );
    let mut env = Env::new("reconcile_every: 2s\n");
    let mut before = Before::default();
    (scenario.before)(&mut env, &mut before);
    let spec = format!("{point}=panic");
    let mut daemon = spawn_daemon(&env, &[("FAILPOINTS", &spec)]);
    (scenario.armed)(&env, &mut before);
    wait_crashed(&env, &mut daemon, point);
    let mut daemon = spawn_daemon(&env, &[]);
    wait_for("restarted daemon up", || env.hitl(&["status"]).0 == 0);
    let what = format!("crash at {point}");
    assert_invariants_hold(&env, &mut daemon, &before.acknowledged, &what);
    let requests = list(&env);
    if let Some(ends) = scenario.ends {
        assert_eq!(
            requests[0].1,
            ends,
            "crash at {point}: how {} ended; runs: {:?}",
            requests[0].0,
            env.runs()
        );
    }
    let requests = requests.len();
    assert!(
        requests == before.acknowledged.len() + before.drop_ins,
        "crash at {point}: {requests} requests from {} acknowledged and {} drop-ins",
        before.acknowledged.len(),
        before.drop_ins
    );
}

/// Waits for the daemon to die at `point` (and at no other step).
fn wait_crashed(env: &Env, daemon: &mut Daemon, point: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon never reached {point}\n{}",
            log_tail(env)
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        env.log()
            .contains(&format!("crashed at failpoint {point} panic")),
        "the daemon died ({status}), but not at {point}\n{}",
        log_tail(env)
    );
}

fn payment(env: &Env) -> String {
    env.request(&[
        "payment",
        "--payload",
        r#"{"amount":1500,"recipient":"a@example.com"}"#,
    ])
}

fn drop_in(env: &Env, before: &mut Before) {
    let tmp = env.dir.path().join("agent.md");
    std::fs::write(
        &tmp,
        "---\ntype: approval_request\naction: payment\namount: 700\nrecipient: Client D\n---\n",
    )
    .unwrap();
    // Agents write then move, so a half-written note is never seen.
    std::fs::rename(&tmp, env.folder("Pending_Approval").join("agent.md")).unwrap();
    before.drop_ins += 1;
}

/// With the daemon down: a request queued in the inbox and a drop-in note,
/// both taken at the next start.
fn queued_while_down(env: &mut Env, before: &mut Before) {
    std::fs::create_dir_all(env.folder("Pending_Approval")).unwrap();
    before.acknowledged.insert(payment(env));
    drop_in(env, before);
}

/// With the daemon down: only a drop-in note, so the first append at the
/// next start is the start-up reconcile's own.
fn drop_in_while_down(env: &mut Env, before: &mut Before) {
    std::fs::create_dir_all(env.folder("Pending_Approval")).unwrap();
    drop_in(env, before);
}

/// A pending payment, its note written, and the daemon stopped.
fn one_pending(env: &mut Env, before: &mut Before) {
    env.start();
    let id = payment(env);
    env.wait_note(&id, "Pending_Approval", "pending");
    before.acknowledged.insert(id);
    env.stop();
}

/// A pending request for the idempotent (slow) handler; daemon stopped.
fn one_pending_idempotent(env: &mut Env, before: &mut Before) {
    env.start();
    let id = env.request(&["slow_idem"]);
    env.wait_note(&id, "Pending_Approval", "pending");
    before.acknowledged.insert(id);
    env.stop();
}

/// A pending payment approved by `hitl approve` while the daemon is down:
/// the approval waits in the inbox.
fn approval_queued_while_down(env: &mut Env, before: &mut Before) {
    one_pending(env, before);
    let id = before.acknowledged.first().unwrap().clone();
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "a queued approval is acknowledged: {err}");
}

fn nothing(_: &Env, _: &mut Before) {}

fn up(env: &Env) -> String {
    wait_for("armed daemon up", || env.hitl(&["status"]).0 == 0);
    before_id(env)
}

/// The one request the scenario made before arming.
fn before_id(env: &Env) -> String {
    list(env).into_iter().next().expect("a request").0
}

fn approve_by_cli(env: &Env, _: &mut Before) {
    let id = up(env);
    let _ = env.hitl(&["approve", &id]); // the daemon dies on the way
}

fn approve_by_move(env: &Env, _: &mut Before) {
    up(env);
    let note = only_note(&env.folder("Pending_Approval"));
    let to = env.folder("Approved").join(note.file_name().unwrap());
    std::fs::rename(note, to).unwrap();
}

fn approve_by_status(env: &Env, _: &mut Before) {
    up(env);
    let note = only_note(&env.folder("Pending_Approval"));
    let text = std::fs::read_to_string(&note).unwrap();
    std::fs::write(
        &note,
        text.replacen("status: pending\n", "status: approved\n", 1),
    )
    .unwrap();
}

fn reject_by_tick(env: &Env, _: &mut Before) {
    up(env);
    let note = only_note(&env.folder("Pending_Approval"));
    let text = std::fs::read_to_string(&note).unwrap();
    std::fs::write(&note, text.replace("- [ ] Reject", "- [x] Reject")).unwrap();
}

fn submit_by_cli(env: &Env, before: &mut Before) {
    wait_for("armed daemon up", || env.hitl(&["status"]).0 == 0);
    // Acknowledged only if the daemon answered before it died.
    let out = env
        .cmd()
        .args(["request", "payment", "--payload", r#"{"amount":900}"#])
        .output()
        .unwrap();
    if out.status.success() {
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        before.acknowledged.insert(id);
    }
}

fn drop_in_while_up(env: &Env, before: &mut Before) {
    wait_for("armed daemon up", || env.hitl(&["status"]).0 == 0);
    drop_in(env, before);
}

fn only_note(dir: &Path) -> std::path::PathBuf {
    let notes: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    notes[0].clone()
}

const AT_START: Scenario = Scenario {
    before: queued_while_down,
    armed: nothing,
    ends: None,
};

#[test]
fn every_failpoint_has_a_crash_test_and_is_in_the_code() {
    let tests: String = include_str!("failpoints.rs").split_whitespace().collect();
    let src = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
        .unwrap()
        .flatten()
        .flat_map(|e| sources(&e.path()))
        .collect::<String>();
    for point in hitl::failpoints::ALL {
        assert!(
            tests.contains(&format!("crash_test(\"{point}\"")),
            "no crash test for {point}"
        );
        assert!(
            src.contains(&format!("fail::fail_point!(\"{point}\")")),
            "{point} is not in the code"
        );
    }
}

fn sources(path: &Path) -> Vec<String> {
    if path.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .flatten()
            .flat_map(|e| sources(&e.path()))
            .collect()
    } else {
        vec![std::fs::read_to_string(path).unwrap_or_default()]
    }
}

// At start: the inbox and drop-ins queued while the daemon was down.

#[test]
fn crash_after_an_inbox_read_loses_no_queued_request() {
    crash_test("inbox-after-read", AT_START);
}

#[test]
fn crash_before_journaling_the_inbox_loses_no_queued_request() {
    crash_test("journal-before-append", AT_START);
}

#[test]
fn crash_after_journaling_the_inbox_takes_no_entry_twice() {
    crash_test("journal-after-append", AT_START);
}

#[test]
fn crash_before_the_startup_reconcile_loses_no_note() {
    crash_test("startup-before-reconcile", AT_START);
}

#[test]
fn crash_after_the_startup_reconcile_loses_no_note() {
    crash_test("startup-after-reconcile", AT_START);
}

#[test]
fn crash_after_reading_a_queued_approval_still_runs_it_once() {
    crash_test(
        "inbox-after-read",
        Scenario {
            before: approval_queued_while_down,
            armed: nothing,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_after_journaling_a_queued_approval_still_runs_it_once() {
    crash_test(
        "journal-after-append",
        Scenario {
            before: approval_queued_while_down,
            armed: nothing,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_after_the_startup_reconcile_still_runs_a_queued_approval_once() {
    crash_test(
        "startup-after-reconcile",
        Scenario {
            before: approval_queued_while_down,
            armed: nothing,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_before_journaling_a_drop_in_at_start_loses_it_not() {
    crash_test(
        "journal-before-append",
        Scenario {
            before: drop_in_while_down,
            armed: nothing,
            ends: Some("pending"),
        },
    );
}

#[test]
fn crash_after_journaling_a_drop_in_at_start_takes_it_once() {
    crash_test(
        "journal-after-append",
        Scenario {
            before: drop_in_while_down,
            armed: nothing,
            ends: Some("pending"),
        },
    );
}

// While running: submissions and decisions.

#[test]
fn crash_before_journaling_a_cli_submission_loses_nothing_acknowledged() {
    crash_test(
        "journal-before-append",
        Scenario {
            before: |_, _| {},
            armed: submit_by_cli,
            ends: None,
        },
    );
}

#[test]
fn crash_after_journaling_a_drop_in_takes_it_once() {
    crash_test(
        "journal-after-append",
        Scenario {
            before: |_, _| {},
            armed: drop_in_while_up,
            ends: Some("pending"),
        },
    );
}

#[test]
fn crash_before_journaling_an_approval_leaves_the_request_pending_with_one_note() {
    crash_test(
        "journal-before-append",
        Scenario {
            before: one_pending,
            armed: approve_by_cli,
            ends: Some("pending"),
        },
    );
}

#[test]
fn crash_after_journaling_an_approval_still_runs_the_handler_once() {
    crash_test(
        "journal-after-append",
        Scenario {
            before: one_pending,
            armed: approve_by_cli,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_between_a_note_write_and_its_move_leaves_no_stale_note() {
    crash_test(
        "note-between-write-and-move",
        Scenario {
            before: one_pending,
            armed: approve_by_move,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_between_a_note_write_and_its_move_after_a_status_approval_leaves_no_stale_note() {
    crash_test(
        "note-between-write-and-move",
        Scenario {
            before: one_pending,
            armed: approve_by_status,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_between_a_rejection_note_write_and_its_move_leaves_no_stale_note() {
    crash_test(
        "note-between-write-and-move",
        Scenario {
            before: one_pending,
            armed: reject_by_tick,
            ends: Some("rejected"),
        },
    );
}

#[test]
fn crash_before_a_handler_spawn_runs_nothing_twice() {
    crash_test(
        "handler-before-spawn",
        Scenario {
            before: one_pending,
            armed: approve_by_cli,
            ends: Some("unknown"),
        },
    );
}

#[test]
fn crash_after_a_handler_spawn_runs_it_once_with_the_whole_payload() {
    crash_test(
        "handler-after-spawn",
        Scenario {
            before: one_pending,
            armed: approve_by_cli,
            ends: Some("unknown"),
        },
    );
}

#[test]
fn crash_before_an_idempotent_handler_spawn_runs_it_at_most_twice_with_one_key() {
    crash_test(
        "handler-before-spawn",
        Scenario {
            before: one_pending_idempotent,
            armed: approve_by_move,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_after_an_idempotent_handler_spawn_runs_it_at_most_twice_with_one_key_and_the_whole_payload()
 {
    crash_test(
        "handler-after-spawn",
        Scenario {
            before: one_pending_idempotent,
            armed: approve_by_cli,
            ends: Some("executed"),
        },
    );
}

#[test]
fn a_build_without_the_tests_has_no_failpoints() {
    // The graph of `cargo build` (release included): no dev-dependencies,
    // so no `failpoints` feature, and `fail_point!` compiles to nothing.
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal,build,features",
        ])
        .args(["-i", "fail"])
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tree.contains("fail v"), "{tree}");
    assert!(!tree.contains("feature \"failpoints\""), "{tree}");
    // And the tests' binary has them: a crash test is not vacuous.
    let built_for_tests = std::fs::read(crate::util::BIN).unwrap();
    let marker = b"crashed at ";
    assert!(
        built_for_tests.windows(marker.len()).any(|w| w == marker),
        "the tests' hitl was built without failpoints"
    );
}
