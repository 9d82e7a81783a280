//! Quorums (distinct approvers, each approver's own code) and the undo
//! window (held, revoked, surviving a restart).

use super::{decisions, tick, webhook_server, with_code};
use crate::util::{Env, approved_into_undo_window, wait_for, wait_for_some};

#[test]
fn a_quorum_counts_the_same_person_once() {
    let mut env = Env::new(
        "rules:\n  - { name: two, when: { type: payment }, decision: require, approvals: 2 }\n",
    );
    env.start();
    let id = env.pay(1500);
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("approval counted (1 of 2"), "{err}");
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("already approved"), "{err}");
    assert_eq!(decisions(&env, &id), ["submitted", "endorsed"]);
    assert!(env.runs().is_empty());
    // The note shows who approved so far.
    wait_for("the approver in the history", || {
        env.note(&id).contains("approval counted for")
    });
    // An anonymous vault gesture is a second approver, once.
    env.edit(&id, tick);
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn a_rejection_in_the_undo_window_stops_the_run() {
    let (env, id) = approved_into_undo_window("1h");
    assert_eq!(decisions(&env, &id), ["submitted", "approved", "held"]);
    wait_for("the window in the note", || {
        env.note(&id).contains("unless rejected or cancelled")
    });
    env.reject_with(&id, "no");
    env.wait_note(&id, "Done", "rejected");
    assert_eq!(
        decisions(&env, &id),
        ["submitted", "approved", "held", "revoked"]
    );
    assert!(env.runs().is_empty());
}

#[test]
fn an_undo_window_survives_a_crash_and_then_runs() {
    let (mut env, id) = approved_into_undo_window("3s");
    env.kill9();
    assert!(env.runs().is_empty());
    env.start();
    env.wait_note(&id, "Done", "executed");
    assert_eq!(
        decisions(&env, &id),
        ["submitted", "approved", "held", "executing", "executed"]
    );
}

#[test]
fn each_approver_gets_their_own_code_and_one_code_counts_once() {
    let (port, rx) = webhook_server();
    let url = format!("http://127.0.0.1:{port}/codes");
    let mut env = Env::new(&format!(
        "notify:\n  - {{ name: ann-phone, kind: webhook, url: \"{url}\" }}\n  - {{ name: ben-phone, kind: webhook, url: \"{url}\" }}\napprovers:\n  - {{ user: ann, code_via: [ann-phone] }}\n  - {{ user: ben, code_via: [ben-phone] }}\nrules:\n  - {{ name: two, when: {{ type: payment }}, decision: require, approval: code, code_via: [ann-phone], approvals: 2 }}\n"
    ));
    env.start();
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    let mut codes = std::collections::BTreeMap::new();
    while codes.len() < 3 {
        let v = wait_for_some("the codes", || {
            rx.recv_timeout(std::time::Duration::from_millis(100)).ok()
        });
        if v["event"] == "code" && v["request"]["id"] == id.as_str() {
            let who = v["approver"].as_str().unwrap_or("request").to_string();
            codes.insert(who, v["code"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(codes.len(), 3, "{codes:?}");
    env.edit(&id, |t| with_code(&codes["ann"])(tick(t)));
    wait_for("ann counted", || {
        env.note(&id).contains("approval counted for ann")
    });
    // Ann's code again, as if another person: still Ann, counted once.
    env.edit(&id, |t| with_code(&codes["ann"])(t));
    wait_for("ann refused twice", || {
        env.note(&id).contains("ann already approved this request")
    });
    assert_eq!(decisions(&env, &id), ["submitted", "endorsed"]);
    assert!(env.runs().is_empty());
    env.edit(&id, |t| with_code(&codes["ben"])(t));
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn ticking_reject_in_the_undo_window_revokes_the_approval() {
    let (env, id) = approved_into_undo_window("1h");
    wait_for("the window in the note", || {
        env.note(&id).contains("unless rejected or cancelled")
    });
    env.edit(&id, |t| t.replace("- [ ] Reject", "- [x] Reject"));
    env.wait_note(&id, "Done", "rejected");
    assert_eq!(
        decisions(&env, &id),
        ["submitted", "approved", "held", "revoked"]
    );
    assert!(env.runs().is_empty());
}
