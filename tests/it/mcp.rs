//! `hitl mcp` driven by a real MCP client: the official Python SDK runs
//! tests/mcp/client.py against the real binary, a running daemon and a
//! real vault (the script ticks notes as a person would), and prints one
//! `RESULT name json` line per scenario, asserted on here.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{Value, json};

use crate::util::{BIN, Env};

/// A deny rule, reads allowed at once, and the default rules after them.
const RULES: &str = "rules:
  - { name: no-drop, when: { type: drop_db }, decision: deny }
  - { name: reads, when: { type: claude.Read }, decision: auto }
  - { name: large-payment, when: { type: payment, amount: { gte: 500 } }, decision: require }
";

/// Runs the script's scenario `group`; its results by scenario name.
fn run_client(env: &Env, group: &str) -> BTreeMap<String, Value> {
    run_client_with(env, group, &[])
}

/// [`run_client`] with extra environment variables for the script.
fn run_client_with(env: &Env, group: &str, extra: &[(&str, String)]) -> BTreeMap<String, Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/client.py");
    let out = Command::new("python3")
        .args([script, group])
        .envs(extra.iter().map(|(k, v)| (*k, v)))
        .env("HITL_BIN", BIN)
        .env("HITL_VAULT", &env.vault)
        .env("HITL_STATE_DIR", &env.state)
        .env("HITL_CONFIG", &env.config)
        .env("HOME", env.dir.path())
        .env("RUST_LOG", "hitl=debug")
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("DONE"),
        "the MCP client script failed ({}):\n{stdout}\n{stderr}\ndaemon log:\n{}",
        out.status,
        env.log()
    );
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .map(|l| {
            let (name, v) = l.split_once(' ').expect("RESULT name json");
            (name.to_string(), serde_json::from_str(v).expect("json"))
        })
        .collect()
}

#[test]
fn an_mcp_client_asks_waits_and_learns_who_decided_and_why() {
    let mut env = Env::new(RULES);
    env.start();
    let r = run_client(&env, "main");

    assert_eq!(
        r["tools"],
        json!([
            "get_request",
            "permission_prompt",
            "request_approval",
            "wait_for_decision"
        ])
    );

    let approved = &r["approved"];
    assert_eq!(approved["status"], "executed", "{approved}");
    assert_eq!(approved["decided_by"], "vault", "{approved}");
    assert_eq!(approved["reason"], "invoice checked", "{approved}");
    assert_eq!(approved["handler_exit_code"], 0, "{approved}");
    assert_eq!(approved["allowed"], true, "{approved}");
    let id = approved["id"].as_str().unwrap();
    assert_eq!(approved["output_head"], format!("handled {id}\n"));
    assert_eq!(env.runs().len(), 1, "the approved payment ran once");
    let submitted = env
        .journal()
        .into_iter()
        .find(|e| e["request"] == id && e["event"] == "submitted")
        .unwrap();
    // The daemon names the user from the socket; the MCP client only
    // adds its name as a label.
    assert_eq!(
        submitted["actor"],
        format!("{} (agent: mcp test-agent)", crate::util::me())
    );

    let denied = &r["denied"];
    assert_eq!(denied["status"], "rejected", "{denied}");
    assert_eq!(denied["decided_by"], "rule:no-drop", "{denied}");
    assert_eq!(denied["allowed"], false, "{denied}");
    assert!(denied["seconds"].as_f64().unwrap() < 5.0, "{denied}");

    assert_eq!(
        r["prompt_auto"],
        json!({"behavior": "allow", "updatedInput": {"file_path": "/etc/hostname"}})
    );
    assert_eq!(
        r["prompt_approved"],
        json!({"behavior": "allow", "updatedInput": {"file_path": "notes.txt", "content": "hello"}})
    );
    let rejected = &r["prompt_rejected"];
    assert_eq!(rejected["behavior"], "deny", "{rejected}");
    let message = rejected["message"].as_str().unwrap();
    assert!(
        message.contains("rejected by vault: not on main"),
        "{message}"
    );
}

#[test]
fn an_mcp_request_still_pending_after_the_bound_can_be_waited_for() {
    let mut env = Env::new(RULES);
    env.start();
    let r = run_client(&env, "pending");

    let pending = &r["pending"];
    assert_eq!(pending["status"], "pending", "{pending}");
    let id = pending["id"].as_str().unwrap();
    assert!(pending["deadline"].is_string(), "{pending}");
    assert!(
        pending["hint"]
            .as_str()
            .unwrap()
            .contains("wait_for_decision"),
        "{pending}"
    );
    assert_eq!(r["got"]["status"], "pending");
    assert_eq!(r["got"]["id"], id);
    let waited = &r["waited"];
    assert_eq!(waited["id"], id, "{waited}");
    assert_eq!(waited["status"], "rejected", "{waited}");
    assert_eq!(waited["decided_by"], "vault", "{waited}");
    assert_eq!(waited["reason"], "too much", "{waited}");
    assert!(waited.get("hint").is_none(), "{waited}");

    let prompt = &r["prompt_pending"];
    assert_eq!(prompt["behavior"], "deny", "{prompt}");
    let message = prompt["message"].as_str().unwrap();
    assert!(message.contains("still pending after 1 s"), "{message}");
    let edit = env
        .journal()
        .into_iter()
        .find(|e| e["event"] == "submitted" && e["details"]["action"] == "claude.Edit")
        .expect("the prompt's request is journaled");
    let edit = edit["request"].as_str().unwrap().to_string();
    assert!(message.contains(&edit), "{message}");
    assert_eq!(env.events(&edit), ["submitted", "cancelled"]);
}

#[test]
fn with_the_daemon_down_an_mcp_tool_call_is_a_quick_clear_error() {
    let env = Env::new(RULES);
    let r = run_client(&env, "down");

    let down = &r["down"];
    assert_eq!(down["is_error"], true, "{down}");
    assert!(
        down["text"]
            .as_str()
            .unwrap()
            .contains("daemon is not running"),
        "{down}"
    );
    assert!(down["seconds"].as_f64().unwrap() < 5.0, "{down}");
    let prompt = &r["down_prompt"];
    assert_eq!(prompt["behavior"], "deny", "{prompt}");
    assert_eq!(prompt["is_error"], true, "{prompt}");
    assert!(
        prompt["message"]
            .as_str()
            .unwrap()
            .contains("daemon is not running"),
        "{prompt}"
    );
}

#[test]
fn an_mcp_call_waiting_when_the_daemon_is_killed_ends_in_a_clear_tool_error() {
    let mut env = Env::new(RULES);
    for group in ["killed_request", "killed_wait"] {
        env.start();
        let pid = [("HITL_DAEMON_PID", env.pid().to_string())];
        let r = run_client_with(&env, group, &pid);
        // The script killed it; reap it before the next start.
        env.kill9();
        let killed = &r[group];
        assert_eq!(killed["is_error"], true, "{killed}");
        let text = killed["text"].as_str().unwrap();
        // Cut mid-wait, or (killed before the wait reached it) gone.
        assert!(
            text.contains("daemon closed the connection without an answer")
                || text.contains("daemon is not running"),
            "{killed}"
        );
        // Well before the call's own bound (40 s, 25 s): no hang.
        assert!(killed["seconds"].as_f64().unwrap() < 15.0, "{killed}");
    }
}
