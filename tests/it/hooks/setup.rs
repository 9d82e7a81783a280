//! `hitl hook install` and `hitl explain` on the shipped agent rules.

use serde_json::Value;
use std::path::Path;

use crate::util::Env;

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
