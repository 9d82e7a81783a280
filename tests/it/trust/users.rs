//! The strong setup: the agent as its own system user, on a socket shared
//! with its group; it submits and waits, but can't approve or read the state.

use super::decisions;
use crate::util::Env;

/// The agent's system user (made here if `.ci/run` did not).
const AGENT: &str = "hitl-agent";

fn agent_user() {
    let exists = std::process::Command::new("id")
        .args(["-u", AGENT])
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let made = std::process::Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home", AGENT])
            .status()
            .unwrap();
        assert!(
            made.success(),
            "useradd {AGENT} failed (the tests run as root)"
        );
    }
}

/// `hitl ARGS` run as the agent's user, as `hitl` (exit code, stdout, stderr).
fn as_agent(env: &Env, args: &[&str]) -> (i32, String, String) {
    use std::os::unix::fs::PermissionsExt;
    // The agent runs its own copy of the binary: the build folder may be
    // one it can't enter.
    let bin = env.dir.path().join("hitl-for-agent");
    if !bin.exists() {
        std::fs::copy(crate::util::BIN, &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let c = env.cmd();
    let mut wrapped = std::process::Command::new("setpriv");
    wrapped
        .args(["--reuid", AGENT, "--regid", AGENT, "--init-groups"])
        .arg(&bin)
        .args(args)
        .stdin(std::process::Stdio::null());
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    let out = wrapped.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_agent_of_its_own_uid_submits_and_waits_but_cannot_approve_or_read_the_state() {
    use std::os::unix::fs::PermissionsExt;
    agent_user();
    let mut env = Env::new(&format!(
        "requesters: [{AGENT}]\napprovers: [root]\nsocket_group: {AGENT}\n"
    ));
    // The agent may pass through the test's folder, as through a home.
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    env.start();
    let payload = r#"{"amount":1500,"recipient":"v@example.com","currency":"USD"}"#;
    let (code, out, err) = as_agent(&env, &["request", "payment", "--payload", payload]);
    assert_eq!(code, 0, "the agent could not submit: {err}");
    let id = out.trim().to_string();
    let submitted = env
        .journal()
        .into_iter()
        .find(|e| e["request"] == id.as_str())
        .unwrap();
    assert_eq!(submitted["actor"], format!("cli:{AGENT}"), "{submitted}");

    let (code, _, err) = as_agent(&env, &["approve", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("not in `approvers:`"), "{err}");
    let (code, _, _) = as_agent(&env, &["list"]);
    assert_ne!(code, 0, "the agent read the journal");
    let ls = std::process::Command::new("setpriv")
        .args(["--reuid", AGENT, "--regid", AGENT, "--init-groups", "ls"])
        .arg(&env.state)
        .output()
        .unwrap();
    assert!(!ls.status.success(), "the agent listed the state folder");
    // The person is not a requester, only an approver.
    let (code, _, err) = env.hitl(&["request", "payment", "--payload", payload]);
    assert_ne!(code, 0);
    assert!(err.contains("not in `requesters:`"), "{err}");
    assert_eq!(decisions(&env, &id), ["submitted"]);
    assert!(env.runs().is_empty());

    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = as_agent(&env, &["wait", &id]);
    assert_eq!(code, 0, "the agent's wait: {err}");
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}
