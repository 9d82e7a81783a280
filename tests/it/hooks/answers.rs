//! Each harness's documented samples answered from a decision in the vault
//! or the CLI, and from the rules.

use serde_json::Value;

use super::{answer, hook, run_hook, sample, started, submitted, with_command};
use crate::util::Env;

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
    env.reject_with(&id, "wrong customer");
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
    env.approve_by_move(&id);
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
    env.reject_with(&id, "never force-push main");
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
    env.reject_with(&id, "pipe to sh");
    let (code, out, _) = answer(child);
    assert_eq!(code, 0);
    assert_eq!(out["decision"], "deny", "{out}");
    assert!(out["reason"].as_str().unwrap().contains("pipe to sh"));

    let child = hook(&env, &["gemini"], &sample("gemini-beforetool-mcp.json"));
    let id = submitted(&env, "gemini.mcp__stripe__create_payment", 0);
    env.approve_by_move(&id);
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
    env.approve_by_move(&id);
    let (code, out, _) = answer(child);
    assert_eq!(code, 0);
    assert_eq!(out["permission"], "allow", "{out}");

    let child = hook(&env, &["cursor"], &sample("cursor-beforemcpexecution.json"));
    let id = submitted(&env, "cursor.create_payment", 0);
    env.reject_with(&id, "too much");
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
