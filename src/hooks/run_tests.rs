//! `hitl hook`'s answers: every error path denies in every harness; the
//! outcomes and what each becomes.

use super::*;
use crate::hooks::HARNESSES;

fn blocks(r: &Rendered) -> bool {
    (r.exit_code == 2 || r.stdout.contains("deny")) && !r.stdout.contains("allow")
}

fn settings(on_timeout: OnTimeout) -> Settings {
    Settings {
        wait: Duration::from_secs(1),
        on_timeout,
    }
}

/// A sample input each harness reads.
fn sample(h: &Harness) -> String {
    match h.name {
        "cursor" => r#"{"hook_event_name":"beforeShellExecution","command":"ls","cwd":"/"}"#.into(),
        _ => format!(
            r#"{{"hook_event_name":"{}","tool_name":"Bash","tool_input":{{"command":"ls"}}}}"#,
            h.events[0]
        ),
    }
}

fn setup(state_dir: &std::path::Path) -> Result<Setup, String> {
    Ok(Setup {
        state_dir: state_dir.to_path_buf(),
        config: Arc::new(Config::builtin()),
    })
}

#[test]
fn every_error_path_denies_in_every_harness() {
    let no_daemon = tempfile::tempdir().unwrap();
    for h in HARNESSES {
        let good = sample(h);
        let cases: Vec<(&str, Vec<u8>, Result<Setup, String>)> = vec![
            ("not json", b"{oops".to_vec(), setup(no_daemon.path())),
            ("not an object", b"[1]".to_vec(), setup(no_daemon.path())),
            ("empty", Vec::new(), setup(no_daemon.path())),
            (
                "unknown event",
                br#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{}}"#.to_vec(),
                setup(no_daemon.path()),
            ),
            (
                "config error",
                good.clone().into_bytes(),
                Err("config.yaml:1:1: bad".into()),
            ),
            (
                "daemon down",
                good.clone().into_bytes(),
                setup(no_daemon.path()),
            ),
            (
                "too large",
                vec![b' '; parse::MAX_INPUT + 1],
                setup(no_daemon.path()),
            ),
        ];
        for (what, input, setup) in cases {
            let r = run(h, &input, &settings(OnTimeout::Deny), setup);
            assert!(blocks(&r), "{} {what}: {r:?}", h.name);
            assert!(
                r.stderr.contains("hitl"),
                "{} {what}: no reason: {r:?}",
                h.name
            );
        }
    }
}

#[test]
fn an_on_timeout_the_harness_lacks_denies_at_once() {
    let no_daemon = tempfile::tempdir().unwrap();
    for h in HARNESSES {
        for (on_timeout, has) in [(OnTimeout::Ask, h.can_ask), (OnTimeout::Defer, h.can_defer)] {
            if has {
                continue;
            }
            let r = run(
                h,
                sample(h).as_bytes(),
                &settings(on_timeout),
                setup(no_daemon.path()),
            );
            assert!(blocks(&r), "{} {on_timeout:?}: {r:?}", h.name);
            assert!(
                r.stderr.contains("has no"),
                "{} {on_timeout:?}: {r:?}",
                h.name
            );
        }
    }
}

#[test]
fn a_tool_name_that_cannot_be_an_action_denies() {
    let h = crate::hooks::harness("claude-code").unwrap();
    let dir = tempfile::tempdir().unwrap();
    for tool in ["", "a/b", "x y", &"t".repeat(60)] {
        let input = serde_json::json!({
            "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": {}
        });
        let r = run(
            h,
            input.to_string().as_bytes(),
            &settings(OnTimeout::Deny),
            setup(dir.path()),
        );
        assert!(blocks(&r), "{tool:?}: {r:?}");
    }
}

#[test]
fn outcomes_map_to_answers() {
    let o = |status: &str, by: Option<&str>, reason: Option<&str>| RequestOutcome {
        id: "a1b2c3d4e5f6".into(),
        status: status.into(),
        decided_by: by.map(String::from),
        reason: reason.map(String::from),
        handler_exit_code: None,
        handler_error: None,
        output_head: None,
        output_truncated: false,
        deadline: None,
    };
    let table = [
        (o("approved", Some("cli:alice"), None), false, "allow"),
        (o("executed", Some("vault"), None), false, "allow"),
        (o("approved", Some("rule:agent-reads"), None), true, "allow"),
        (
            o("approved", Some("rule:agent-other-tools"), None),
            false,
            "none",
        ),
        // A rule's name never makes a deny an allow.
        (o("rejected", Some("rule:agent-reads"), None), true, "deny"),
        (
            o("rejected", Some("vault"), Some("not on main")),
            false,
            "deny",
        ),
        (
            o("rejected", Some("rule:x"), Some("denied by rule:x")),
            false,
            "deny",
        ),
        (o("expired", None, None), true, "deny"),
        (o("cancelled", None, None), true, "deny"),
        (o("failed", Some("vault"), None), false, "deny"),
        (o("tampered", None, None), false, "deny"),
        (o("unknown", Some("vault"), None), false, "deny"),
        (o("pending", None, None), true, "deny"),
    ];
    for (outcome, allows, want) in table {
        let got = match answer_for(&outcome, allows) {
            Answer::Allow(_) => "allow",
            Answer::Deny(_) => "deny",
            Answer::NoOpinion => "none",
            a => panic!("{a:?}"),
        };
        assert_eq!(got, want, "{outcome:?}");
    }
    let rejected = o("rejected", Some("vault"), Some("not on main"));
    let Answer::Deny(why) = answer_for(&rejected, false) else {
        panic!()
    };
    assert!(
        why.contains("not on main") && why.contains("vault"),
        "{why}"
    );
}
