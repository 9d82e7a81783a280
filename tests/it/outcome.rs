//! The requester learns the outcome (issue 9 point 7): `hitl wait` and
//! `hitl request --wait` print, and return in `--json`, the final status,
//! who decided, the reason, the handler's exit code and its output's head;
//! also when the request settled while the daemon was down.

use std::process::Stdio;

use serde_json::Value;

use crate::util::{Env, me, wait_for};

const PAYMENT: &str = r#"{"amount":1500,"recipient":"vendor@example.com","currency":"USD"}"#;

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn wait_tells_who_rejected_and_why() {
    let (env, id) = Env::with_pending_payment();
    let (code, _, err) = env.hitl(&["reject", &id, "--reason", "not this month"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = env.hitl(&["wait", &id, "--json"]);
    assert_eq!(code, 3);
    let v = json(&out);
    assert_eq!(v["status"], "rejected", "{out}");
    assert_eq!(v["decided_by"], me().as_str(), "{out}");
    assert_eq!(v["reason"], "not this month", "{out}");
    assert_eq!(v["exit_code"], 3, "{out}");
    let (code, _, err) = env.hitl(&["wait", &id]);
    assert_eq!(code, 3);
    assert!(
        err.contains(&format!("{id} rejected by {}: not this month", me())),
        "{err}"
    );
}

#[test]
fn wait_tells_the_handlers_exit_code_and_the_head_of_its_output() {
    let mut env = Env::new("");
    env.start();
    let id = env.request(&["refund", "--set", "amount=5"]);
    env.hitl(&["approve", &id, "--reason", "customer asked"]);
    let (code, out, _) = env.hitl(&["wait", &id, "--json"]);
    assert_eq!(code, 5, "{out}");
    let v = json(&out);
    assert_eq!(v["status"], "failed", "{out}");
    assert_eq!(v["handler_exit_code"], 3, "{out}");
    assert_eq!(v["reason"], "customer asked", "{out}");
    assert_eq!(v["output_head"], format!("handled {id}\n"), "{out}");
    let (_, _, err) = env.hitl(&["wait", &id]);
    assert!(err.contains("handler exit 3"), "{err}");
    assert!(err.contains(&format!("output:\n  handled {id}")), "{err}");
}

#[test]
fn request_wait_json_returns_the_outcome_once_approved() {
    let mut env = Env::new("");
    env.start();
    let child = env
        .cmd()
        .args([
            "request",
            "payment",
            "--payload",
            PAYMENT,
            "--wait",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = crate::util::wait_for_some("the request journaled", || {
        env.journal()
            .iter()
            .find(|e| e["event"] == "submitted")
            .and_then(|e| e["request"].as_str().map(String::from))
    });
    env.wait_note(&id, "Pending_Approval", "pending");
    env.hitl(&["approve", &id, "--reason", "invoice 42 checked"]);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let v = json(&stdout);
    assert_eq!(v["id"], id.as_str(), "{stdout}");
    assert_eq!(v["status"], "executed", "{stdout}");
    assert_eq!(v["decided_by"], me().as_str(), "{stdout}");
    assert_eq!(v["reason"], "invoice 42 checked", "{stdout}");
    assert_eq!(v["handler_exit_code"], 0, "{stdout}");
    assert_eq!(v["output_head"], format!("handled {id}\n"), "{stdout}");
}

#[test]
fn an_outcome_settled_before_the_daemon_stopped_is_read_from_the_journal() {
    let (mut env, id) = Env::with_pending_payment();
    env.hitl(&["approve", &id, "--reason", "fine"]);
    wait_for("executed", || env.events(&id).contains(&"executed".into()));
    env.stop();
    let (code, out, _) = env.hitl(&["wait", &id, "--json"]);
    assert_eq!(code, 0, "{out}");
    let v = json(&out);
    assert_eq!(v["status"], "executed", "{out}");
    assert_eq!(v["decided_by"], me().as_str(), "{out}");
    assert_eq!(v["reason"], "fine", "{out}");
    assert_eq!(v["handler_exit_code"], 0, "{out}");
    assert_eq!(v["output_head"], format!("handled {id}\n"), "{out}");
}

#[test]
fn a_wait_that_times_out_tells_the_requests_deadline() {
    let (env, id) = Env::with_pending_payment();
    let (code, out, _) = env.hitl(&["wait", &id, "--timeout", "300ms", "--json"]);
    assert_eq!(code, 7, "{out}");
    let v = json(&out);
    assert_eq!(v["status"], "pending", "{out}");
    assert_eq!(v["wait"], "timed_out", "{out}");
    let deadline: jiff::Timestamp = v["deadline"].as_str().unwrap().parse().unwrap();
    assert!(deadline > jiff::Timestamp::now(), "{out}");
}
