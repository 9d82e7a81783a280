//! Every error path denies, in the harness's own format.

use serde_json::Value;

use super::{run_hook, sample};
use crate::util::Env;

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
