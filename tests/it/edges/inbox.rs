//! The inbox: forged files take no effect, a FIFO does not stall, and an
//! entry is journaled once, before the vault is read.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{PAYMENT, assert_capped, strays, submitted};
use crate::util::{Env, me, wait_for};

#[test]
fn forged_inbox_files_take_no_effect_and_a_fifo_does_not_stall() {
    let mut env = Env::new("");
    let inbox = env.state.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let outside = env.dir.path().join("outside.md");
    let files = [
        (
            "bad-id.json",
            format!(
                r#"{{"id":"../../x","command":{{"op":"submit","action":"payment","payload":{PAYMENT}}}}}"#
            ),
        ),
        (
            "file-name.json",
            format!(
                r#"{{"id":"a00000000001","command":{{"op":"submit","action":"payment","payload":{PAYMENT},"file_name":"../../outside.md"}}}}"#
            ),
        ),
        (
            "absolute.json",
            format!(
                r#"{{"id":"a00000000002","command":{{"op":"submit","action":"payment","payload":{PAYMENT},"file_name":"{}"}}}}"#,
                outside.display()
            ),
        ),
        (
            "source.json",
            format!(
                r#"{{"id":"a00000000003","command":{{"op":"submit","action":"payment","payload":{PAYMENT},"source":"cli","requested_by":"ceo"}}}}"#
            ),
        ),
        (
            "by.json",
            format!(
                r#"{{"id":"a00000000004","by":"ceo","command":{{"op":"submit","action":"payment","payload":{PAYMENT}}}}}"#
            ),
        ),
        (
            "old-format.json",
            format!(
                r#"{{"op":"submit","id":"a00000000005","action":"payment","payload":{PAYMENT},"requested_by":"ceo","source":"cli","timeout":null,"expires":null,"file_name":null,"summary":null,"rationale":null}}"#
            ),
        ),
        (
            "good.json",
            format!(
                r#"{{"id":"a00000000006","command":{{"op":"submit","action":"payment","payload":{PAYMENT},"expires":"2999-01-01T00:00:00Z","label":"bot"}}}}"#
            ),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(inbox.join(name), text).unwrap();
    }
    let fifo = std::ffi::CString::new(inbox.join("fifo.json").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/etc/passwd", inbox.join("link.json")).unwrap();
    env.start();
    env.wait_note("a00000000006", "Pending_Approval", "pending");
    let refused = [
        "bad-id",
        "file-name",
        "absolute",
        "source",
        "by",
        "old-format",
        "fifo",
        "link",
    ];
    for name in refused {
        let aside = inbox.join(format!("{name}.json.refused"));
        wait_for(&format!("{name} set aside"), || {
            std::fs::symlink_metadata(&aside).is_ok()
        });
        assert!(!inbox.join(format!("{name}.json")).exists());
    }
    assert!(env.log().contains("inbox file refused"), "{}", env.log());
    let subs = submitted(&env);
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["request"], "a00000000006");
    assert_capped(&subs[0]);
    assert_eq!(subs[0]["actor"], format!("{} (agent: bot)", me()));
    assert_eq!(subs[0]["details"]["source"], "inbox");
    wait_for("good entry removed", || !inbox.join("good.json").exists());
    assert_eq!(strays(&env), Vec::<PathBuf>::new());
    assert!(!outside.exists());
    // The daemon still answers: the FIFO stalled nothing.
    assert_eq!(env.hitl(&["status"]).0, 0);
}

#[test]
fn the_cli_writes_its_inbox_private_whoever_creates_the_state_folder() {
    let env = Env::new("");
    let (code, out, err) = env.hitl(&["request", "payment", "--payload", PAYMENT]);
    assert_eq!(code, 0, "{err}");
    let id = out.trim();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.state), 0o700);
    assert_eq!(mode(&env.state.join("inbox")), 0o700);
    assert_eq!(
        mode(&env.state.join("inbox").join(format!("{id}.json"))),
        0o600
    );
}

#[test]
fn an_inbox_file_that_survives_its_take_is_journaled_once() {
    let mut env = Env::new("");
    let (code, out, err) = env.hitl(&["request", "payment", "--payload", PAYMENT]);
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_string();
    let file = env.state.join("inbox").join(format!("{id}.json"));
    let entry = std::fs::read(&file).unwrap();
    env.start();
    env.wait_note(&id, "Pending_Approval", "pending");
    wait_for("inbox file removed", || !file.exists());
    env.stop();
    // A crash between the journal append and the removal leaves the file.
    std::fs::write(&file, &entry).unwrap();
    env.start();
    wait_for("inbox file taken again", || !file.exists());
    assert!(env.log().contains("already journaled"), "{}", env.log());
    assert_eq!(env.events(&id), ["submitted"]);
    assert_eq!(submitted(&env).len(), 1);
    let notes = std::fs::read_dir(env.folder("Pending_Approval"))
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(&id)))
        .count();
    assert_eq!(notes, 1);
    // `hitl wait` knows the id the CLI printed.
    let (code, _, err) = env.hitl(&["wait", &id, "--timeout", "1s"]);
    assert_eq!(code, 7, "{err}");
}

#[test]
fn an_inbox_entry_is_journaled_before_a_large_vault_is_read() {
    let mut env = Env::new("");
    let pending = env.folder("Pending_Approval");
    std::fs::create_dir_all(&pending).unwrap();
    let notes = 300;
    for i in 0..notes {
        std::fs::write(
            pending.join(format!("drop-{i}.md")),
            format!(
                "---\naction: payment\namount: {}\nrecipient: r{i}\n---\n",
                600 + i
            ),
        )
        .unwrap();
    }
    let (code, out, err) = env.hitl(&["request", "payment", "--payload", PAYMENT]);
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_string();
    let file = env.state.join("inbox").join(format!("{id}.json"));
    // Crash the daemon as soon as the inbox file is gone, most likely while
    // it is still reading the vault: the request must be in the journal.
    let mut daemon = env
        .cmd()
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while file.exists() {
        assert!(Instant::now() < deadline, "the inbox entry was never taken");
        std::thread::sleep(Duration::from_millis(1));
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert_eq!(env.events(&id), ["submitted"]);
    env.start();
    wait_for("every drop-in journaled", || {
        submitted(&env).len() == notes + 1
    });
    let subs = submitted(&env);
    let mine = subs.iter().find(|s| s["request"] == id.as_str()).unwrap();
    let time = |s: &Value| {
        s["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    // Its own append, before the vault's notes were read.
    assert!(
        subs.iter()
            .all(|s| s["request"] == id.as_str() || time(s) > time(mine)),
        "the inbox entry was journaled with the vault's notes"
    );
    assert_eq!(env.events(&id), ["submitted"]);
}
