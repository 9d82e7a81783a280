//! The crash-test harness: the daemon is crashed (as by `kill -9`) at each
//! named failpoint of [`hitl::failpoints::ALL`], on a scenario that reaches
//! it, then restarted; once it has caught up, the invariants of
//! `invariants.rs` must hold. The test binary's `hitl` is built with the
//! `failpoints` feature (see Cargo.toml).

mod at_start;
mod running;
mod steps;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::invariants::{Daemon, assert_invariants_hold, list, log_tail, spawn_daemon};
use crate::util::{Env, wait_for};

/// What a scenario did before the crash, for the checks after it.
#[derive(Default)]
pub(super) struct Before {
    /// Ids `hitl request` printed.
    pub acknowledged: BTreeSet<String>,
    /// Drop-in notes placed: each must become exactly one request.
    pub drop_ins: usize,
}

/// A scenario: brings the vault and state to the step `point` guards, with
/// the daemon down; then `armed` starts it with `point` armed and does what
/// reaches the step.
pub(super) struct Scenario {
    pub before: fn(&mut Env, &mut Before),
    pub armed: fn(&Env, &mut Before),
    /// How the request made by `before` ends (`None`: no such request).
    pub ends: Option<&'static str>,
}

/// Runs `scenario`, checks the daemon died at `point`, restarts it, and
/// checks the invariants once it has caught up.
pub(super) fn crash_test(point: &str, scenario: Scenario) {
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

#[test]
fn every_failpoint_has_a_crash_test_and_is_in_the_code() {
    let tests: String = [include_str!("at_start.rs"), include_str!("running.rs")]
        .concat()
        .split_whitespace()
        .collect();
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
