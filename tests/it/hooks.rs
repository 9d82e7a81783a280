//! `hitl hook HARNESS` end to end: the harnesses' documented hook inputs
//! (tests/fixtures/hooks/) piped through the real binary against a running
//! daemon, decided in the vault or from the CLI, and the answer read in
//! the harness's own format. Also `hitl hook install` and `hitl explain`
//! on the shipped agent rules.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::util::{Env, wait_for_some};

fn sample(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hooks")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// A sample with its shell command replaced.
fn with_command(name: &str, command: &str) -> String {
    let mut v: Value = serde_json::from_str(&sample(name)).unwrap();
    if v.get("tool_input").is_some() {
        v["tool_input"]["command"] = command.into();
    } else {
        v["command"] = command.into();
    }
    v.to_string()
}

/// `hitl hook ARGS` started with `input` on its stdin.
fn hook(env: &Env, args: &[&str], input: &str) -> Child {
    let mut child = env
        .cmd()
        .arg("hook")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child
}

/// (exit code, stdout as JSON or Null when empty, stderr).
fn answer(child: Child) -> (i32, Value, String) {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = if stdout.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    };
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_hook(env: &Env, args: &[&str], input: &str) -> (i32, Value, String) {
    answer(hook(env, args, input))
}

/// The id of the request submitted for `action` (the `n`th, from 0).
fn submitted(env: &Env, action: &str, n: usize) -> String {
    wait_for_some(&format!("{action} submitted"), || {
        env.journal()
            .into_iter()
            .filter(|e| e["event"] == "submitted" && e["details"]["action"] == action)
            .nth(n)
            .map(|e| e["request"].as_str().unwrap().to_string())
    })
}

fn started() -> Env {
    let mut env = Env::new("");
    env.start();
    env
}

#[test]
fn claude_code_tool_call_approved_in_the_vault_is_allowed() {
    let env = started();
    let child = hook(
        &env,
        &["claude-code"],
        &sample("claude-code-pretooluse-bash.json"),
    );
    let id = submitted(&env, "claude-code.Bash", 0);
    let note = env.wait_note(&id, "Pending_Approval", "pending");
    assert!(note.contains("git push --force origin main"), "{note}");
    env.mv(&id, "Approved");
    let (code, out, _) = answer(child);
    assert_eq!(code, 0);
    let o = &out["hookSpecificOutput"];
    assert_eq!(o["hookEventName"], "PreToolUse");
    assert_eq!(o["permissionDecision"], "allow", "{out}");
    assert!(
        o["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains(&id)
    );
}

#[test]
fn claude_code_rejection_reaches_the_agent_with_the_humans_reason() {
    let env = started();
    let child = hook(
        &env,
        &["claude-code"],
        &sample("claude-code-pretooluse-mcp.json"),
    );
    let id = submitted(&env, "claude-code.mcp__stripe__create_payment", 0);
    let (code, _, err) = env.hitl(&["reject", &id, "--reason", "wrong customer"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = answer(child);
    assert_eq!(code, 0);
    let o = &out["hookSpecificOutput"];
    assert_eq!(o["permissionDecision"], "deny", "{out}");
    assert!(
        o["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("wrong customer"),
        "{out}"
    );
}

#[test]
fn codex_permission_request_approved_is_allowed() {
    let env = started();
    let child = hook(
        &env,
        &["codex"],
        &sample("codex-permissionrequest-bash.json"),
    );
    let id = submitted(&env, "codex.Bash", 0);
    env.wait_note(&id, "Pending_Approval", "pending");
    env.mv(&id, "Approved");
    let (code, out, _) = answer(child);
    assert_eq!(code, 0);
    assert_eq!(
        out["hookSpecificOutput"]["hookEventName"],
        "PermissionRequest"
    );
    assert_eq!(
        out["hookSpecificOutput"]["decision"]["behavior"], "allow",
        "{out}"
    );
}

#[test]
fn codex_pre_tool_use_rejected_is_denied_with_the_reason() {
    let env = started();
    let child = hook(&env, &["codex"], &sample("codex-pretooluse-bash.json"));
    let id = submitted(&env, "codex.Bash", 0);
    env.hitl(&["reject", &id, "--reason", "never force-push main"]);
    let (code, out, _) = answer(child);
    assert_eq!(code, 0);
    let o = &out["hookSpecificOutput"];
    assert_eq!(o["permissionDecision"], "deny", "{out}");
    assert!(
        o["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("never force-push")
    );
}

#[test]
fn gemini_tool_calls_are_answered_in_its_format() {
    let env = started();
    let child = hook(&env, &["gemini"], &sample("gemini-beforetool-shell.json"));
    let id = submitted(&env, "gemini.run_shell_command", 0);
    env.hitl(&["reject", &id, "--reason", "pipe to sh"]);
    let (code, out, _) = answer(child);
    assert_eq!(code, 0);
    assert_eq!(out["decision"], "deny", "{out}");
    assert!(out["reason"].as_str().unwrap().contains("pipe to sh"));

    let child = hook(&env, &["gemini"], &sample("gemini-beforetool-mcp.json"));
    let id = submitted(&env, "gemini.mcp__stripe__create_payment", 0);
    env.wait_note(&id, "Pending_Approval", "pending");
    env.mv(&id, "Approved");
    let (_, out, _) = answer(child);
    assert_eq!(out["decision"], "allow", "{out}");
}

#[test]
fn cursor_tool_calls_are_answered_in_its_format() {
    let env = started();
    let child = hook(
        &env,
        &["cursor"],
        &sample("cursor-beforeshellexecution.json"),
    );
    let id = submitted(&env, "cursor.Shell", 0);
    env.wait_note(&id, "Pending_Approval", "pending");
    env.mv(&id, "Approved");
    let (code, out, _) = answer(child);
    assert_eq!(code, 0);
    assert_eq!(out["permission"], "allow", "{out}");

    let child = hook(&env, &["cursor"], &sample("cursor-beforemcpexecution.json"));
    let id = submitted(&env, "cursor.create_payment", 0);
    env.hitl(&["reject", &id, "--reason", "too much"]);
    let (_, out, _) = answer(child);
    assert_eq!(out["permission"], "deny", "{out}");
    assert!(out["agent_message"].as_str().unwrap().contains("too much"));
}

#[test]
fn an_auto_rule_gives_no_opinion_unless_it_says_allow() {
    let env = started();
    // `ls` falls to agent-other-tools: auto, no opinion.
    let (code, out, _) = run_hook(
        &env,
        &["claude-code"],
        &with_command("claude-code-pretooluse-bash.json", "ls -la"),
    );
    assert_eq!((code, out), (0, Value::Null));
    let id = submitted(&env, "claude-code.Bash", 0);
    assert_eq!(env.events(&id), ["submitted", "approved"]);
    // Reads: agent-reads says `hook: allow`.
    let (_, out, _) = run_hook(
        &env,
        &["claude-code"],
        &sample("claude-code-pretooluse-read.json"),
    );
    assert_eq!(
        out["hookSpecificOutput"]["permissionDecision"], "allow",
        "{out}"
    );
    // Cursor and Gemini say nothing in their own way.
    let (_, out, _) = run_hook(
        &env,
        &["cursor"],
        &with_command("cursor-beforeshellexecution.json", "ls"),
    );
    assert_eq!(out, serde_json::json!({}));
}

#[test]
fn a_deny_rule_denies_at_once_with_its_name() {
    let env = Env::new(
        "rules:\n  - name: no-force-push\n    when: { type: \"*.Bash\", command: { matches: \"--force\" } }\n    decision: deny\n",
    );
    let mut env = env;
    env.start();
    let (_, out, _) = run_hook(
        &env,
        &["claude-code"],
        &sample("claude-code-pretooluse-bash.json"),
    );
    let o = &out["hookSpecificOutput"];
    assert_eq!(o["permissionDecision"], "deny", "{out}");
    assert!(
        o["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("no-force-push")
    );
}

#[test]
fn with_the_daemon_down_every_harness_denies() {
    let env = Env::new("");
    for (harness, file) in [
        ("claude-code", "claude-code-pretooluse-bash.json"),
        ("codex", "codex-permissionrequest-bash.json"),
        ("codex", "codex-pretooluse-bash.json"),
        ("gemini", "gemini-beforetool-shell.json"),
        ("cursor", "cursor-beforeshellexecution.json"),
        ("cursor", "cursor-beforemcpexecution.json"),
    ] {
        let (code, out, err) = run_hook(&env, &[harness], &sample(file));
        let text = out.to_string();
        assert_eq!(code, 0, "{harness} {file}: {err}");
        assert!(
            text.contains("deny") && !text.contains("allow"),
            "{harness} {file}: {text}"
        );
        assert!(text.contains("not running"), "{harness} {file}: {text}");
        assert!(err.contains("not running"), "{err}");
    }
    // Nothing was queued for later: the agent was told no.
    assert!(env.journal().is_empty());
    let inbox = std::fs::read_dir(env.state.join("inbox"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(inbox, 0);
}

#[test]
fn bad_input_unknown_events_config_errors_and_unknown_harnesses_deny() {
    let mut env = Env::new("");
    env.start();
    let (_, out, _) = run_hook(&env, &["claude-code"], "this is not json");
    assert_eq!(
        out["hookSpecificOutput"]["permissionDecision"], "deny",
        "{out}"
    );
    let post = sample("claude-code-pretooluse-bash.json").replace("PreToolUse", "PostToolUse");
    let (_, out, _) = run_hook(&env, &["claude-code"], &post);
    assert!(
        out.to_string().contains("PostToolUse") && out.to_string().contains("deny"),
        "{out}"
    );
    // Codex with an unknown event: exit 2, which blocks in both its events.
    let (code, out, err) = run_hook(&env, &["codex"], &post);
    assert_eq!((code, out), (2, Value::Null), "{err}");
    let (code, _, err) = run_hook(
        &env,
        &["no-such-agent"],
        &sample("claude-code-pretooluse-bash.json"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no harness"), "{err}");
    // A broken config: deny, saying so; nothing submitted.
    std::fs::write(&env.config, "rules: [\n").unwrap();
    let (_, out, _) = run_hook(&env, &["gemini"], &sample("gemini-beforetool-shell.json"));
    assert_eq!(out["decision"], "deny", "{out}");
    assert!(
        out["reason"].as_str().unwrap().contains("config.yaml"),
        "{out}"
    );
    assert!(
        env.journal()
            .iter()
            .all(|e| e["details"]["action"] != "gemini.run_shell_command")
    );
}

#[test]
fn no_decision_within_the_wait_denies_and_withdraws_the_request() {
    let env = started();
    let (_, out, _) = run_hook(
        &env,
        &["claude-code", "--wait", "1s"],
        &sample("claude-code-pretooluse-bash.json"),
    );
    let o = &out["hookSpecificOutput"];
    assert_eq!(o["permissionDecision"], "deny", "{out}");
    let id = submitted(&env, "claude-code.Bash", 0);
    assert_eq!(env.events(&id), ["submitted", "cancelled"]);
    // A late approval can't be taken for it.
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_ne!(code, 0, "{err}");
}

#[test]
fn no_decision_within_the_wait_asks_where_the_harness_can() {
    let env = started();
    let args = ["claude-code", "--wait", "1s", "--on-timeout", "ask"];
    let (_, out, _) = run_hook(&env, &args, &sample("claude-code-pretooluse-bash.json"));
    assert_eq!(
        out["hookSpecificOutput"]["permissionDecision"], "ask",
        "{out}"
    );
    let args = ["cursor", "--wait", "1s", "--on-timeout", "ask"];
    let (_, out, _) = run_hook(&env, &args, &sample("cursor-beforeshellexecution.json"));
    assert_eq!(out["permission"], "ask", "{out}");
    // Gemini has no ask: deny, saying so, without submitting.
    let args = ["gemini", "--wait", "1s", "--on-timeout", "ask"];
    let (_, out, _) = run_hook(&env, &args, &sample("gemini-beforetool-shell.json"));
    assert_eq!(out["decision"], "deny", "{out}");
    assert!(
        out["reason"].as_str().unwrap().contains("no `ask`"),
        "{out}"
    );
}

#[test]
fn claude_code_defer_leaves_the_request_pending_and_the_resumed_call_gets_its_decision() {
    let env = started();
    let args = ["claude-code", "--wait", "1s", "--on-timeout", "defer"];
    let input = sample("claude-code-pretooluse-bash.json");
    let (_, out, _) = run_hook(&env, &args, &input);
    let o = &out["hookSpecificOutput"];
    assert_eq!(o["permissionDecision"], "defer", "{out}");
    let id = submitted(&env, "claude-code.Bash", 0);
    assert!(
        o["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains(&id)
    );
    env.wait_note(&id, "Pending_Approval", "pending");
    assert_eq!(env.events(&id), ["submitted"]);
    // The person decides later; the resumed session asks again for the
    // same call and gets that decision, without a second request.
    env.mv(&id, "Approved");
    env.wait_note(&id, "Done", "approved");
    let (_, out, _) = run_hook(&env, &args, &input);
    assert_eq!(
        out["hookSpecificOutput"]["permissionDecision"], "allow",
        "{out}"
    );
    let requests = env
        .journal()
        .into_iter()
        .filter(|e| e["event"] == "submitted")
        .count();
    assert_eq!(requests, 1);
    // Another call (another tool_use_id) is a request of its own.
    let other = input.replace("toolu_01ABC123", "toolu_01OTHER");
    let (_, out, _) = run_hook(&env, &args, &other);
    assert_eq!(
        out["hookSpecificOutput"]["permissionDecision"], "defer",
        "{out}"
    );
    submitted(&env, "claude-code.Bash", 1);
}

#[test]
fn hook_install_writes_once_keeps_other_settings_and_dry_run_writes_nothing() {
    let env = Env::new("");
    let project = env.dir.path().join("project");
    std::fs::create_dir_all(project.join(".claude")).unwrap();
    let settings = project.join(".claude/settings.json");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hooks/settings/claude-settings.json");
    std::fs::copy(&fixture, &settings).unwrap();
    let before = std::fs::read_to_string(&settings).unwrap();
    let dir = project.to_str().unwrap();
    let (code, out, err) = env.hitl(&[
        "hook",
        "install",
        "claude-code",
        "--project",
        dir,
        "--dry-run",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("hitl hook claude-code") && out.contains("would write"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), before);
    for _ in 0..2 {
        let (code, _, err) = env.hitl(&[
            "hook",
            "install",
            "claude-code",
            "--project",
            dir,
            "--wait",
            "10m",
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    let text = after.to_string();
    assert_eq!(text.matches("hitl hook claude-code").count(), 1, "{text}");
    assert!(
        text.contains("npx prettier --check") && after["model"] == "opus",
        "{text}"
    );
    let group = after["hooks"]["PreToolUse"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(group["hooks"][0]["timeout"], 630, "{group}");
    // The home folder without --project, for Codex.
    let (code, _, err) = env.hitl(&["hook", "install", "codex"]);
    assert_eq!(code, 0, "{err}");
    assert!(env.dir.path().join(".codex/hooks.json").exists());
}

#[test]
fn explain_shows_how_the_shipped_rules_decide_a_tool_call() {
    // A config without rules: the shipped ones.
    let env = Env::new("");
    let (code, out, err) = env.hitl(&[
        "explain",
        "claude-code.Bash",
        "--set",
        "command=git push --force",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("agent-risky-shell") && out.contains("require"),
        "{out}"
    );
    let (_, out, _) = env.hitl(&["explain", "claude-code.Bash", "--set", "command=cargo test"]);
    assert!(
        out.contains("agent-other-tools") && out.contains("auto"),
        "{out}"
    );
}
