//! Issue 8, the conventions: help that names the choices, durations as
//! people type them, `--json` on every reporting command, completions and a
//! manual, `config check`, local times, and a list that reads like a table.

use crate::util::{Env, wait_for};

#[test]
fn resolve_without_an_outcome_names_both_flags() {
    let env = Env::new("");
    let (code, _, err) = env.hitl(&["resolve", "abc", "--reason", "checked"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--executed") && err.contains("--failed"),
        "{err}"
    );
}

#[test]
fn help_names_prefixes_values_and_global_flags_apart() {
    let env = Env::new("");
    let (_, help, _) = env.hitl(&["show", "--help"]);
    assert!(help.contains("unique prefix"), "{help}");
    assert!(help.contains("Global options:"), "{help}");
    let (_, help, _) = env.hitl(&["list", "--help"]);
    assert!(help.contains("possible values: pending"), "{help}");
}

#[test]
fn an_ambiguous_prefix_lists_the_candidates() {
    let mut env = Env::new("");
    env.start();
    // Seventeen ids: two of them share a first hex digit.
    let ids: Vec<String> = (0..17).map(|_| env.request(&["quiet_action"])).collect();
    let first = ids
        .iter()
        .find(|a| ids.iter().filter(|b| b[..1] == a[..1]).count() > 1)
        .expect("two ids share a first digit");
    let prefix = &first[..1];
    let (code, _, err) = env.hitl(&["show", prefix]);
    assert_eq!(code, 1);
    assert!(err.contains("matches more than one request"), "{err}");
    assert!(err.contains(first.as_str()), "{err}");
    let (code, _, err) = env.hitl(&["approve", prefix]);
    assert_eq!(code, 1);
    assert!(err.contains(first.as_str()), "{err}");
}

#[test]
fn durations_are_read_as_people_type_them_and_errors_name_the_flag() {
    let mut env = Env::new("timeout: 3d\n");
    env.start();
    let id = env.request(&["quiet_action", "--timeout", "2 days"]);
    let (_, out, _) = env.hitl(&["show", &id, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let created: jiff::Timestamp = v["created"].as_str().unwrap().parse().unwrap();
    let expires: jiff::Timestamp = v["expires"].as_str().unwrap().parse().unwrap();
    let secs = expires.duration_since(created).as_secs();
    assert!((2 * 86400 - 5..=2 * 86400 + 5).contains(&secs), "{secs}");
    let (code, _, err) = env.hitl(&["wait", &id, "--timeout", "soonish"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--timeout") && err.contains("soonish"),
        "{err}"
    );
}

#[test]
fn reporting_commands_speak_json() {
    let (env, id) = Env::with_pending_payment();
    let (code, out, _) = env.hitl(&["reject", &id, "--reason", "duplicate", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["id"].as_str(), v["status"].as_str()),
        (Some(id.as_str()), Some("rejected"))
    );
    let (code, out, _) = env.hitl(&["audit", "verify", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["intact"], true, "{out}");
    assert!(v["head"]["hash"].is_string(), "{out}");
}

#[test]
fn audit_verify_says_plainly_that_a_line_is_torn() {
    let (mut env, _) = Env::with_pending_payment();
    env.stop();
    let journal = env.state.join("journal.jsonl");
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str("{\"seq\":99,\"ti");
    std::fs::write(&journal, text).unwrap();
    let (code, out, _) = env.hitl(&["audit", "verify"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("NOT intact") && out.contains("is torn"),
        "{out}"
    );
    let (code, out, _) = env.hitl(&["audit", "verify", "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["intact"], false, "{out}");
    assert!(v["torn"]["line"].is_u64(), "{out}");
}

#[test]
fn completions_and_a_manual_page_are_generated() {
    let env = Env::new("");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, _) = env.hitl(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        assert!(out.contains("approve"), "{shell}");
    }
    let (code, man, _) = env.hitl(&["man"]);
    assert_eq!(code, 0);
    assert!(man.starts_with(".ie") || man.contains(".TH hitl"), "{man}");
    assert!(man.contains("hitl\\-wait"), "no subcommand pages");
}

#[test]
fn config_check_lists_rules_checks_handlers_and_names_an_error_once() {
    let env = Env::new("");
    let (code, out, err) = env.hitl(&["config", "check"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1. large-payment -> require"), "{out}");
    assert!(out.contains("payment: /bin/sh (ok)"), "{out}");
    let bad = env.dir.path().join("bad.yaml");
    std::fs::write(&bad, "handlers:\n  pay: { command: [/no/such/pay] }\n").unwrap();
    let (code, out, _) = env.hitl(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("/no/such/pay: does not exist"), "{out}");
    let (code, out, _) = env.hitl(&["config", "check", bad.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["handlers"][0]["ok"].as_bool()),
        (Some(false), Some(false))
    );
    std::fs::write(
        &bad,
        "handlers:\n  pay: { command: /usr/local/bin/pay --live }\n",
    )
    .unwrap();
    let (code, _, err) = env.hitl(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    let expected = format!("{}:2:", bad.display());
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("command must be a list (argv), e.g. [/usr/local/bin/pay, --live]"));
    assert_eq!(
        err.matches(":2:").count(),
        1,
        "position printed once: {err}"
    );
    assert!(!err.contains("line 2"), "position printed once: {err}");
}

#[test]
fn times_are_local_unless_utc_and_json_stays_utc() {
    let (env, id) = Env::with_pending_payment();
    let show = |extra: &[&str]| {
        let out = env
            .cmd()
            .env("TZ", "Asia/Tokyo")
            .args(["show", &id])
            .args(extra)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(show(&[]).contains(" JST\n"), "{}", show(&[]));
    assert!(show(&["--utc"]).contains(" UTC\n"), "{}", show(&["--utc"]));
    let json = show(&["--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["created"].as_str().unwrap().ends_with('Z'), "{json}");
}

#[test]
fn list_has_a_header_and_puts_the_nearest_deadline_first() {
    let mut env = Env::new("");
    env.start();
    let later = env.request(&["payment", "--set", "amount=900", "--timeout", "5h"]);
    let sooner = env.request(&["payment", "--set", "amount=900", "--timeout", "1h"]);
    let settled = env.request(&["payment", "--set", "amount=900"]);
    env.hitl(&["cancel", &settled]);
    wait_for("cancelled", || {
        env.events(&settled).last().map(String::as_str) == Some("cancelled")
    });
    let (_, out, _) = env.hitl(&["list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("EXPIRES IN"),
        "{out}"
    );
    let at = |id: &str| lines.iter().position(|l| l.starts_with(id)).unwrap();
    assert!(
        at(&sooner) < at(&later) && at(&later) < at(&settled),
        "{out}"
    );
    let (_, json, _) = env.hitl(&["list", "--json"]);
    assert!(json.starts_with('['), "{json}");
}

#[test]
fn log_follow_prints_output_while_the_handler_runs() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let mut env = Env::new(&format!(
        "  chatty: {{ command: [/bin/sh, -c, 'echo first; while [ ! -e {} ]; do sleep 0.1; done; echo second'] }}\n",
        go.display()
    ));
    env.start();
    let id = env.request(&["chatty"]);
    let mut child = env
        .cmd()
        .args(["log", &id, "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    env.hitl(&["approve", &id]);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "first");
    // The handler is still running: it waits for `go`.
    assert_eq!(
        env.events(&id).last().map(String::as_str),
        Some("executing")
    );
    std::fs::write(&go, "").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "second");
    assert!(lines.next().is_none());
    assert!(child.wait().unwrap().success());
    assert_eq!(env.events(&id).last().map(String::as_str), Some("executed"));
}
