//! Issue 12, points 2 and 3: a settled request is kept as a compact record
//! and its details are read back from the journal by offset. What a person
//! or an agent sees of it must not change across a restart from the
//! checkpoint that holds only that record.

use crate::hooks::{run_hook, sample, submitted};
use crate::util::{Env, restart_from_checkpoint, wait_for};

const DEFER: [&str; 5] = ["claude-code", "--wait", "1s", "--on-timeout", "defer"];

fn out(env: &Env, args: &[&str]) -> String {
    let (code, out, err) = env.hitl(args);
    assert_eq!(code, 0, "hitl {args:?}: {err}");
    out
}

#[test]
fn show_history_and_note_of_a_settled_request_read_its_details_from_the_journal() {
    let mut env = Env::new("");
    env.start();
    let id = env.pay(1500);
    let (code, _, err) = env.hitl(&["approve", &id, "--reason", "invoice checked"]);
    assert_eq!(code, 0, "{err}");
    let note = env.wait_note(&id, "Done", "executed");
    let show = out(&env, &["show", &id]);
    let json = out(&env, &["show", &id, "--json"]);
    let history = out(&env, &["history", &id]);
    assert!(show.contains("invoice checked"), "{show}");
    // The daemon down, the CLI reads the checkpoint: a compact record.
    env.stop();
    assert_eq!(out(&env, &["show", &id]), show);
    assert_eq!(out(&env, &["show", &id, "--json"]), json);
    assert_eq!(out(&env, &["history", &id]), history);
    env.start();
    wait_for("the checkpoint used", || {
        env.log().contains("state loaded from the checkpoint")
    });
    assert_eq!(out(&env, &["show", &id]), show);
    let (code, wait, err) = env.hitl(&["wait", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(
        wait.contains("executed") || err.contains("executed"),
        "{wait} {err}"
    );
    // An edit where only hitl writes is put back: the note rendered again
    // from the journal's lines is the one written before the restart.
    env.edit(&id, |t| t.replace("status: executed", "status: pending"));
    wait_for("the note put back", || {
        env.note_path(&id).is_some_and(|_| env.note(&id) == note)
    });
    assert_eq!(env.runs().len(), 1, "ran once");
}

#[test]
fn a_gesture_on_the_done_note_of_a_settled_request_is_refused_after_a_start_from_a_checkpoint() {
    let mut env = Env::new("");
    env.start();
    let id = env.pay(1500);
    let (code, _, err) = env.hitl(&["reject", &id, "--reason", "not ours"]);
    assert_eq!(code, 0, "{err}");
    let note = env.wait_note(&id, "Done", "rejected");
    restart_from_checkpoint(&mut env);
    env.edit(&id, |t| t.replace("status: rejected", "status: approved"));
    wait_for("the note put back", || {
        env.note_path(&id).is_some_and(|_| env.note(&id) == note)
    });
    assert_eq!(
        env.events(&id),
        ["submitted", "rejected"],
        "no decision taken on a settled request"
    );
    assert!(env.runs().is_empty());
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("rejected"), "{err}");
}

#[test]
fn a_hook_retry_with_the_key_of_a_settled_request_gets_its_outcome_after_a_start_from_a_checkpoint()
{
    let mut env = Env::new("");
    env.start();
    let input = sample("claude-code-pretooluse-bash.json");
    let (_, first, _) = run_hook(&env, &DEFER, &input);
    assert_eq!(first["hookSpecificOutput"]["permissionDecision"], "defer");
    let id = submitted(&env, "claude-code.Bash", 0);
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&id, "Done", "approved");
    restart_from_checkpoint(&mut env);
    let (_, again, _) = run_hook(&env, &DEFER, &input);
    let o = &again["hookSpecificOutput"];
    assert_eq!(o["permissionDecision"], "allow", "{again}");
    let submits = env
        .journal()
        .into_iter()
        .filter(|e| e["event"] == "submitted")
        .count();
    assert_eq!(
        submits, 1,
        "answered with its settled request, not a new one"
    );
}
