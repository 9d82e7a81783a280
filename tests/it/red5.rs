//! Red team of the settled index's cold file (issue 12): the state folder
//! is hostile too. A cold file or checkpoint swapped for a FIFO, a symlink
//! or a huge file never hangs nor answers wrongly; an older checkpoint and
//! cold file put back together are a sound older state, from which the
//! journal's tail is replayed (a keyed resubmission is still the same
//! request).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cold::{keyed, socket};
use crate::util::{Env, wait_for};

const KEPT: &str = "done_notes_kept: 1s\n";

/// A keyed payment, rejected and archived; returns its id.
fn keyed_and_archived(env: &Env, key: &str) -> String {
    let r = socket(env, &keyed(key)).expect("a reply");
    let id = r["id"].as_str().expect("an id").to_string();
    let (code, _, err) = env.hitl(&["reject", &id, "--reason", "not ours"]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&id, "Done", "rejected");
    let last = env.journal().into_iter().rfind(|e| e["request"] == id);
    let at: jiff::Timestamp = last.unwrap()["time"].as_str().unwrap().parse().unwrap();
    let due = at + Duration::from_secs(3);
    wait_for("the request archived", || jiff::Timestamp::now() > due);
    id
}

fn cold_files(env: &Env) -> Vec<PathBuf> {
    let names = std::fs::read_dir(&env.state).unwrap().flatten();
    let names = names.filter(|e| e.file_name().to_string_lossy().starts_with("settled-"));
    names.map(|e| e.path()).collect()
}

/// `hitl args`, failing the test if it has not exited within 60 s.
fn hitl_in_time(env: &Env, args: &[&str]) -> (i32, String) {
    let mut child = env.cmd().args(args).stdout(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("hitl {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn swap_for_fifo(path: &Path) {
    std::fs::remove_file(path).unwrap();
    mkfifo(path);
}

#[test]
fn a_fifo_in_place_of_the_cold_file_hangs_neither_the_cli_nor_the_daemon_start() {
    let mut env = Env::new(KEPT);
    env.start();
    let id = keyed_and_archived(&env, "invoice-7");
    env.stop();
    let cold = cold_files(&env).remove(0);
    swap_for_fifo(&cold);
    // The CLI, daemon down: the whole journal instead.
    let (code, out) = hitl_in_time(&env, &["show", &id]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("rejected"), "{out}");
    // The daemon: a full replay, and the keyed call is the same request.
    env.start();
    wait_for("the full replay said", || {
        env.log()
            .contains("the settled index is damaged: replaying the whole journal")
    });
    let r = socket(&env, &keyed("invoice-7")).expect("a reply");
    assert_eq!(r["id"], id.as_str(), "{r}");
}

#[test]
fn a_fifo_or_symlink_in_place_of_the_checkpoint_does_not_hang_the_daemon_start() {
    let mut env = Env::new(KEPT);
    env.start();
    let id = keyed_and_archived(&env, "invoice-8");
    env.stop();
    let checkpoint = env.state.join("checkpoint");
    let kept = env.state.join("checkpoint.kept");
    std::fs::rename(&checkpoint, &kept).unwrap();
    mkfifo(&checkpoint);
    let (code, out) = hitl_in_time(&env, &["show", &id]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("rejected"), "{out}");
    env.start();
    wait_for("the full replay said", || {
        env.log()
            .contains("the checkpoint is damaged: replaying the whole journal")
    });
    let r = socket(&env, &keyed("invoice-8")).expect("a reply");
    assert_eq!(r["id"], id.as_str(), "{r}");
    env.stop();
    // A symlink to a sound checkpoint is not followed either.
    std::fs::remove_file(&checkpoint).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &checkpoint).unwrap();
    let (code, out) = hitl_in_time(&env, &["show", &id]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("rejected"), "{out}");
}

#[test]
fn an_older_checkpoint_and_cold_file_put_back_together_still_know_every_keyed_request() {
    let mut env = Env::new(KEPT);
    env.start();
    let first = keyed_and_archived(&env, "invoice-1");
    env.stop();
    let old_checkpoint = std::fs::read(env.state.join("checkpoint")).unwrap();
    let old_cold = cold_files(&env).remove(0);
    let old_bytes = std::fs::read(&old_cold).unwrap();
    env.start();
    let second = keyed_and_archived(&env, "invoice-2");
    env.stop();
    assert!(!old_cold.exists(), "the old cold file was removed");
    // The older pair put back (written afresh: ctimes are not trusted
    // anyway), the newer cold file left beside it.
    std::fs::write(env.state.join("checkpoint"), &old_checkpoint).unwrap();
    std::fs::write(&old_cold, &old_bytes).unwrap();
    env.start();
    wait_for("the older checkpoint used", || {
        env.log()
            .matches("state loaded from the checkpoint")
            .count()
            >= 2
    });
    let before = env.journal().len();
    for (key, id) in [("invoice-1", &first), ("invoice-2", &second)] {
        let r = socket(&env, &keyed(key)).expect("a reply");
        assert_eq!(r["id"], id.as_str(), "{r}");
        let (code, out) = hitl_in_time(&env, &["show", id]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("rejected"), "{out}");
    }
    let submitted = |e: &Value| e["event"] == "submitted";
    assert!(
        !env.journal()[before..].iter().any(submitted),
        "nothing new"
    );
}

/// A daemon whose watcher drops every event, reconciling every second,
/// started with at most `n` open files; two pending requests, after two
/// idle reconciles have gone over their notes.
fn blind_with_fd_limit(n: u64) -> (Env, String, String) {
    let mut env = Env::new("reconcile_every: 1s\n");
    env.start_env_with_fd_limit(n, &[("FAILPOINTS", "watcher-drop-events=return")]);
    let (a, b) = (env.pay(1500), env.pay(1600));
    env.wait_note(&a, "Pending_Approval", "pending");
    env.wait_note(&b, "Pending_Approval", "pending");
    let before = env.log().matches("reconciled the vault").count();
    wait_for("two idle reconciles over the notes", || {
        env.log().matches("reconciled the vault").count() >= before + 2
    });
    (env, a, b)
}

/// The person's tick written into the note's own file (same size), its
/// modification time put back: only its change time says so.
fn tick_in_place_keeping_mtime(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let ticked = text.replace("- [ ] Approve", "- [x] Approve");
    assert_eq!(ticked.len(), text.len());
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, ticked.as_bytes(), 0).unwrap();
    f.set_modified(mtime).unwrap();
}

#[test]
fn a_tick_in_place_is_read_by_the_idle_reconcile_when_no_descriptor_can_be_held() {
    // 2,600 open files: nothing is left for held descriptors past the
    // connections' share and the reserve, so every note is stat'ed by name.
    let (env, a, _) = blind_with_fd_limit(2600);
    tick_in_place_keeping_mtime(&env.note_path(&a).unwrap());
    env.wait_note(&a, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn a_note_swapped_for_a_fifo_by_rename_does_not_stall_the_idle_reconcile() {
    let (env, a, b) = blind_with_fd_limit(65_536);
    let path = env.note_path(&a).unwrap();
    let fifo = path.with_file_name(".agent-fifo");
    mkfifo(&fifo);
    std::fs::rename(&fifo, &path).unwrap();
    // A later tick on the other note is read: the pass went past the FIFO.
    tick_in_place_keeping_mtime(&env.note_path(&b).unwrap());
    env.wait_note(&b, "Done", "executed");
    let runs = env.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let get = socket(&env, &json!({"op": "get", "id": a})).expect("a reply");
    assert_eq!(get["status"], "pending", "{get}");
}
