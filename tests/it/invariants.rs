//! What must hold after any crash, once a restarted daemon has caught up:
//! shared by the random kill campaign (`crash.rs`) and the failpoint tests
//! (`failpoints.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::Env;

/// Actions whose test handler is idempotent: may run twice, with one key.
const IDEMPOTENT: &[&str] = &["slow_idem"];

/// A daemon killed with SIGKILL when dropped, so a failed assertion leaves
/// no daemon behind.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `hitl run` with extra environment variables, without waiting
/// for it to answer (it may be meant to die during its start).
pub fn spawn_daemon(env: &Env, extra: &[(&str, &str)]) -> Daemon {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.log_path())
        .unwrap();
    Daemon(
        env.cmd()
            .envs(extra.iter().copied())
            .arg("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// `(id, status)` of every request, from the journal.
pub fn list(env: &Env) -> Vec<(String, String)> {
    let out = env.cmd().args(["list", "--json"]).output().unwrap();
    let all: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Array(vec![]));
    all.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Every note in the vault: `hitl_id` → `(folder, status)` per copy.
pub fn notes(env: &Env) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for dir in env.note_dirs() {
        // A month of Done/ counts as Done/.
        let folder = match dir.parent() {
            Some(p) if p == env.folder("Done") => "Done".to_string(),
            _ => dir.file_name().unwrap().to_string_lossy().into_owned(),
        };
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if !e.file_name().to_string_lossy().ends_with(".md") {
                continue;
            }
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let prop = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                    .map(|v| v.trim_matches('"').to_string())
            };
            if let Some(id) = prop("hitl_id") {
                let status = prop("status").unwrap_or_default();
                out.entry(id).or_default().push((folder.clone(), status));
            }
        }
    }
    out
}

/// Every acknowledged id is journaled; no request is left half-run; every
/// request has exactly one note, whose status is the journal's. `None`
/// when all holds, else what doesn't.
pub fn violations(env: &Env, acknowledged: &BTreeSet<String>) -> Option<String> {
    let journal = list(env);
    let status: BTreeMap<&str, &str> = journal
        .iter()
        .map(|(i, s)| (i.as_str(), s.as_str()))
        .collect();
    let notes = notes(env);
    let mut bad = Vec::new();
    for id in acknowledged {
        if !status.contains_key(id.as_str()) {
            bad.push(format!("acknowledged {id} is not in the journal"));
        }
    }
    for (id, st) in &status {
        // Every action here has a handler: `approved` is not final.
        if matches!(*st, "executing" | "approved") {
            bad.push(format!("{id} is still {st}"));
        }
        match notes.get(*id).map(Vec::as_slice) {
            None | Some([]) => bad.push(format!("{id} ({st}) has no note")),
            Some([(folder, shown)]) => {
                if shown != st {
                    bad.push(format!(
                        "{id}: note in {folder} says {shown}, journal says {st}"
                    ));
                }
            }
            Some(copies) => bad.push(format!("{id} has {} notes: {copies:?}", copies.len())),
        }
    }
    for id in notes.keys() {
        if !status.contains_key(id.as_str()) {
            bad.push(format!(
                "a note carries {id}, which the journal doesn't know"
            ));
        }
    }
    (!bad.is_empty()).then(|| bad.join("\n"))
}

/// No handler ran twice (an idempotent one at most twice, with one key),
/// none ran without an approval journaled before its start, and each read
/// exactly the payload that was approved.
pub fn run_violations(env: &Env) -> Option<String> {
    let journal = env.journal();
    let mut bad = Vec::new();
    // id → (action, keys seen)
    let mut runs: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in env.runs() {
        let f: Vec<&str> = line.splitn(5, '|').collect();
        let [id, action, key, _by, payload] = f[..] else {
            bad.push(format!("a torn run record: {line:?}"));
            continue;
        };
        let approved = approved_payload(&journal, id);
        if approved.as_deref() != Some(payload) {
            bad.push(format!(
                "{id}'s handler read the payload {payload:?}, not the approved {approved:?}"
            ));
        }
        let run = runs
            .entry(id.to_string())
            .or_insert_with(|| (action.to_string(), Vec::new()));
        run.1.push(key.to_string());
    }
    for (id, (action, keys)) in &runs {
        let n = keys.len();
        if IDEMPOTENT.contains(&action.as_str()) {
            if n > 2 || keys.iter().any(|k| *k != keys[0]) {
                bad.push(format!("idempotent {id} ran {n} times with keys {keys:?}"));
            }
        } else if n != 1 {
            bad.push(format!("handler of {id} ran {n} times (not idempotent)"));
        }
        let evs: Vec<&str> = journal
            .iter()
            .filter(|e| e["request"] == id.as_str())
            .map(|e| e["event"].as_str().unwrap_or_default())
            .collect();
        let approved = evs.iter().position(|e| *e == "approved");
        let executing = evs.iter().position(|e| *e == "executing");
        if !matches!((approved, executing), (Some(a), Some(x)) if a < x) {
            bad.push(format!(
                "{id} ran without an approval journaled before its start: {evs:?}"
            ));
        }
    }
    (!bad.is_empty()).then(|| bad.join("\n"))
}

/// The payload a request was submitted with, as its handler reads it.
fn approved_payload(journal: &[Value], id: &str) -> Option<String> {
    journal
        .iter()
        .find(|e| e["request"] == id && e["event"] == "submitted")
        .map(|e| hitl::payload::canonical(&e["details"]["payload"]))
}

/// The last lines of the daemon's log, for a failure message.
pub fn log_tail(env: &Env) -> String {
    let log = env.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Waits (up to 30 s) for the running daemon to catch up, then asserts every
/// invariant, `audit verify` included. `what` names the run in a failure.
pub fn assert_invariants_hold(
    env: &Env,
    daemon: &mut Daemon,
    acknowledged: &BTreeSet<String>,
    what: &str,
) {
    let caught_up = Instant::now() + Duration::from_secs(30);
    let mut last = violations(env, acknowledged);
    while last.is_some() && Instant::now() < caught_up {
        std::thread::sleep(Duration::from_millis(200));
        last = violations(env, acknowledged);
    }
    let mut tail = log_tail(env);
    if let Ok(Some(status)) = daemon.0.try_wait() {
        // It can't catch up if it isn't running.
        tail.push_str(&format!("\nthe daemon is gone: {status}"));
    }
    assert!(
        last.is_none(),
        "{what}:\n{}\nlog tail:\n{tail}",
        last.unwrap_or_default()
    );
    if let Some(bad) = run_violations(env) {
        panic!("{what}:\n{bad}\nlog tail:\n{tail}");
    }
    let (code, out, err) = env.hitl(&["audit", "verify"]);
    assert_eq!(code, 0, "{what}: audit verify: {out}{err}");
    let gone = daemon.0.try_wait().ok().flatten();
    assert!(
        gone.is_none() && env.hitl(&["status"]).0 == 0,
        "{what}: the daemon is not up after catching up ({gone:?})\n{}",
        log_tail(env)
    );
}
