//! No decision within the wait: deny (withdrawn), ask, or defer and resume.

use super::{run_hook, sample, started, submitted};

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
    assert!(
        env.journal()
            .iter()
            .all(|e| e["details"]["action"] != "gemini.run_shell_command")
    );
    // Codex asks by saying nothing to its PermissionRequest: its own
    // approval prompt shows; hitl's request is withdrawn.
    let args = ["codex", "--wait", "1s", "--on-timeout", "ask"];
    let (code, out, _) = run_hook(&env, &args, &sample("codex-permissionrequest-bash.json"));
    assert_eq!((code, out), (0, serde_json::Value::Null));
    let id = submitted(&env, "codex.Bash", 0);
    assert_eq!(env.events(&id), ["submitted", "cancelled"]);
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
