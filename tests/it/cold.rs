//! Issue 12, points 1 and 2: archived settled requests kept on disk in
//! the checkpoint's cold file (MACed blocks). They are still found after
//! a restart, by every reader; a damaged block is never an answer: at
//! start it is a full replay, at use a stop (daemon) or an error (CLI).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::util::{Env, wait_for};

const KEPT: &str = "done_notes_kept: 1s\n";

/// One command over the daemon's socket; `None` if the daemon hung up.
pub(crate) fn socket(env: &Env, cmd: &Value) -> Option<Value> {
    let mut s = UnixStream::connect(env.state.join("hitl.sock")).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

pub(crate) fn keyed(key: &str) -> Value {
    json!({"op": "submit", "action": "payment", "key": key,
        "payload": {"amount": 77, "recipient": "vendor@example.com", "currency": "USD"}})
}

fn reject(env: &Env, id: &str) {
    let (code, _, err) = env.hitl(&["reject", id, "--reason", "not ours"]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(id, "Done", "rejected");
}

/// Waits until `id`'s last journal event is more than 1 s + 2 s old, so
/// the daemon sees it archived (its times are whole seconds).
fn wait_archived(env: &Env, id: &str) {
    let last = env
        .journal()
        .into_iter()
        .rfind(|e| e["request"] == id)
        .expect("journaled");
    let at: jiff::Timestamp = last["time"].as_str().unwrap().parse().unwrap();
    let due = at + Duration::from_secs(3);
    wait_for("the request archived", || jiff::Timestamp::now() > due);
}

fn cold_files(env: &Env) -> Vec<PathBuf> {
    let names = std::fs::read_dir(&env.state).unwrap().flatten();
    let names = names.filter(|e| e.file_name().to_string_lossy().starts_with("settled-"));
    names.map(|e| e.path()).collect()
}

/// A rejected request and a rejected keyed one, archived, moved to the
/// cold file by a stop; the daemon started again from that checkpoint.
/// Returns both ids.
fn archived_in_the_cold_file(env: &mut Env) -> (String, String) {
    env.start();
    let id = env.pay(1500);
    reject(env, &id);
    let r = socket(env, &keyed("invoice-42")).expect("a reply");
    let key_id = r["id"].as_str().expect("an id").to_string();
    reject(env, &key_id);
    wait_archived(env, &id);
    wait_archived(env, &key_id);
    env.stop();
    assert_eq!(cold_files(env).len(), 1, "the stop wrote the cold file");
    (id, key_id)
}

fn submitted(env: &Env) -> usize {
    let all = env.journal().into_iter();
    all.filter(|e| e["event"] == "submitted").count()
}

/// Flips a bit in the first record of the cold file's first block.
fn damage_first_block(env: &Env) -> PathBuf {
    let path = cold_files(env).remove(0);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[9] ^= 0x01;
    // In place: a running daemon reads the same file.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &bytes[..16], 0).unwrap();
    path
}

fn show_says(env: &Env, id: &str, what: &str) {
    let (code, out, err) = env.hitl(&["show", id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(what), "{out}");
}

#[test]
fn an_archived_request_is_still_found_after_a_restart_from_the_cold_file() {
    let mut env = Env::new(KEPT);
    let (id, key_id) = archived_in_the_cold_file(&mut env);
    // The daemon down: the CLI reads the cold file.
    show_says(&env, &id, "rejected");
    env.start();
    wait_for("the checkpoint used", || {
        env.log().contains("state loaded from the checkpoint")
    });
    show_says(&env, &id, "rejected");
    let (code, history, err) = env.hitl(&["history", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(history.contains("not ours"), "{history}");
    assert_eq!(env.hitl(&["wait", &id]).0, 3, "rejected");
    let (code, list, err) = env.hitl(&["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(list.contains(&id) && list.contains(&key_id), "{list}");
    // The same keyed call again: the same request, not a new one.
    let before = submitted(&env);
    let r = socket(&env, &keyed("invoice-42")).expect("a reply");
    assert_eq!(r["id"], key_id.as_str(), "{r}");
    let get = socket(&env, &json!({"op": "get", "id": id})).expect("a reply");
    assert_eq!(get["status"], "rejected", "{get}");
    assert_eq!(submitted(&env), before, "nothing new submitted");
    // A gesture on it is refused as on any settled request.
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("rejected"), "{err}");
    assert!(env.runs().is_empty(), "nothing ran");
}

#[test]
fn a_damaged_cold_block_at_start_falls_back_to_a_full_replay() {
    let mut env = Env::new(KEPT);
    let (id, _) = archived_in_the_cold_file(&mut env);
    damage_first_block(&env);
    env.start();
    wait_for("the full replay said", || {
        env.log()
            .contains("the settled index is damaged: replaying the whole journal")
    });
    assert!(env.log().contains("block 0"), "{}", env.log());
    show_says(&env, &id, "rejected");
    assert_eq!(env.hitl(&["wait", &id]).0, 3, "rejected");
    // The stop writes a new cold file and removes the damaged one.
    env.stop();
    assert_eq!(cold_files(&env).len(), 1);
    show_says(&env, &id, "rejected");
}

#[test]
fn a_cold_block_damaged_while_running_stops_the_daemon_and_never_answers_wrongly() {
    let mut env = Env::new(KEPT);
    let (id, _) = archived_in_the_cold_file(&mut env);
    env.start();
    wait_for("the checkpoint used", || {
        env.log().contains("state loaded from the checkpoint")
    });
    let path = damage_first_block(&env);
    // The CLI on its own: an error naming the file and the block.
    let (code, out, err) = env.hitl(&["show", &id]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!out.contains("rejected"), "{out}");
    let named = path.display().to_string();
    assert!(err.contains(&named) && err.contains("block 0"), "{err}");
    // The daemon asked about it: no answer, it stops non-zero, the
    // checkpoint removed.
    let get = socket(&env, &json!({"op": "get", "id": id}));
    assert!(
        get.as_ref().is_none_or(|g| g.get("status").is_none()),
        "{get:?}"
    );
    let status = env.wait_exit();
    assert!(!status.success(), "{status}");
    let log = env.log();
    assert!(
        log.contains("the settled index is damaged: stopping"),
        "{log}"
    );
    assert!(log.contains(&named) && log.contains("block 0"), "{log}");
    assert!(!env.state.join("checkpoint").exists());
    // Started again (as systemd would): the whole journal, the right answer.
    env.start();
    wait_for("the full replay", || {
        env.log()
            .contains("no checkpoint: replaying the whole journal")
    });
    show_says(&env, &id, "rejected");
    assert_eq!(env.hitl(&["wait", &id]).0, 3, "rejected");
}

#[test]
fn a_drop_in_of_an_archived_request_in_the_cold_file_is_not_taken_twice() {
    let mut env = Env::new(KEPT);
    // Taken while note writes fail: the drop-in stays as it was dropped.
    env.start_with_note_writes_failing();
    let drop_in = env.folder("Pending_Approval").join("pay-rent.md");
    std::fs::write(&drop_in, "---\naction: payment\namount: 900\n---\n").unwrap();
    wait_for("a failed write", || {
        env.log().contains("note not written; retried later")
    });
    let id = env.journal()[0]["request"].as_str().unwrap().to_string();
    let (code, _, err) = env.hitl(&["reject", &id, "--reason", "not ours"]);
    assert_eq!(code, 0, "{err}");
    wait_archived(&env, &id);
    env.stop();
    assert_eq!(cold_files(&env).len(), 1, "the stop wrote the cold file");
    // Started again from the checkpoint: the same file, still there, is
    // recognised as the archived request's, not taken again (its record
    // keeps whole seconds: the file was written in the second it was
    // taken, which is not "written since").
    let before = env.log().len();
    env.start_with_note_writes_failing();
    let said = format!("this drop-in was already taken as request {id}; not taken again");
    wait_for("the drop-in recognised", || {
        env.log()[before..].contains(&said)
    });
    assert!(env.log()[before..].contains("state loaded from the checkpoint"));
    assert_eq!(submitted(&env), 1, "taken once");
    show_says(&env, &id, "rejected");
}
