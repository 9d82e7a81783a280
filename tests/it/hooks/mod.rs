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

mod answers;
mod errors;
mod setup;
mod waits;

pub(super) fn sample(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hooks")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// A sample with its shell command replaced.
pub(super) fn with_command(name: &str, command: &str) -> String {
    let mut v: Value = serde_json::from_str(&sample(name)).unwrap();
    if v.get("tool_input").is_some() {
        v["tool_input"]["command"] = command.into();
    } else {
        v["command"] = command.into();
    }
    v.to_string()
}

/// `hitl hook ARGS` started with `input` on its stdin.
pub(super) fn hook(env: &Env, args: &[&str], input: &str) -> Child {
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
pub(super) fn answer(child: Child) -> (i32, Value, String) {
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

pub(super) fn run_hook(env: &Env, args: &[&str], input: &str) -> (i32, Value, String) {
    answer(hook(env, args, input))
}

/// The id of the request submitted for `action` (the `n`th, from 0).
pub(super) fn submitted(env: &Env, action: &str, n: usize) -> String {
    wait_for_some(&format!("{action} submitted"), || {
        env.journal()
            .into_iter()
            .filter(|e| e["event"] == "submitted" && e["details"]["action"] == action)
            .nth(n)
            .map(|e| e["request"].as_str().unwrap().to_string())
    })
}

pub(super) fn started() -> Env {
    let mut env = Env::new("");
    env.start();
    env
}
