//! The trust gate's memory (issue 10) across a start from a checkpoint
//! (issue 12): the checkpoint keeps the ledger, not only the requests, so
//! an authenticator step taken before it stays taken and an undo window
//! held before it still ends in the run, at its end.

use crate::trust::{decisions, enroll_totp};
use crate::util::{Env, approved_into_undo_window, restart_from_checkpoint};

#[test]
fn an_authenticator_step_used_before_a_checkpoint_is_still_refused_after_a_restart_from_it() {
    let mut env = Env::new(
        "rules:\n  - { name: coded, when: { type: payment }, decision: require, approval: code, code_via: [totp] }\n",
    );
    let secret = enroll_totp(&env);
    env.start();
    let a = env.pay(1500);
    let b = env.pay(1600);
    let now = jiff::Timestamp::now().as_second();
    let totp = hitl::trust::totp::code_at(&secret, (now / 30) as u64);
    let (code, _, err) = env.hitl(&["approve", &a, "--code", &totp]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&a, "Done", "executed");
    restart_from_checkpoint(&mut env);
    // Still within the code's window (a restart takes a second or two):
    // only the ledger's memory of the step refuses it.
    let (code, _, err) = env.hitl(&["approve", &b, "--code", &totp]);
    assert_ne!(code, 0, "a replayed authenticator code was taken");
    assert!(err.contains("wrong approval code"), "{err}");
    assert_eq!(decisions(&env, &b), ["submitted", "wrong_code"]);
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn a_request_held_in_its_undo_window_before_a_checkpoint_runs_at_its_end_after_a_restart() {
    let (mut env, id) = approved_into_undo_window("4s");
    assert_eq!(decisions(&env, &id), ["submitted", "approved", "held"]);
    restart_from_checkpoint(&mut env);
    env.wait_note(&id, "Done", "executed");
    assert_eq!(
        decisions(&env, &id),
        ["submitted", "approved", "held", "executing", "executed"]
    );
    // Not started at the restart as if approved without a window: only
    // once the window the checkpoint kept was over.
    let journal = env.journal();
    let time = |kind: &str, field: Option<&str>| -> jiff::Timestamp {
        let e = journal
            .iter()
            .find(|e| e["request"] == id.as_str() && e["event"] == kind)
            .unwrap_or_else(|| panic!("no {kind} event"));
        let v = match field {
            Some(f) => &e["details"][f],
            None => &e["time"],
        };
        v.as_str().unwrap().parse().unwrap()
    };
    let until = time("held", Some("until"));
    assert!(
        time("executing", None) >= until,
        "ran before its undo window ended ({until})"
    );
    assert_eq!(env.runs().len(), 1);
}
