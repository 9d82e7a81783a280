//! Note rewrites never lose a person's save (compare-and-swap), and the
//! History lines of notification deliveries are written together, later.

use crate::trust::webhook_server;
use crate::util::{Env, wait_for};

/// Whether the daemon has a rewrite of a note open: its temp file is there.
pub fn rewrite_open(env: &Env) -> bool {
    std::fs::read_dir(env.folder("Pending_Approval"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
}

#[test]
fn a_tick_saved_while_the_daemon_rewrites_the_note_is_not_lost() {
    let mut env = Env::new("");
    // The first checked rewrite holds still between its temp file and the
    // rename, long enough for the person's save to land there.
    env.start_env(&[("FAILPOINTS", "note-before-rename=1*sleep(3000)")]);
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    // A warning makes the daemon rewrite the note...
    env.edit(&id, |t| t.replace("status: pending", "status: maybe"));
    wait_for("the daemon inside the rewrite", || rewrite_open(&env));
    // ...and the person ticks Approve while it does.
    env.edit(&id, |t| {
        t.replace("status: maybe", "status: pending")
            .replace("- [ ] Approve", "- [x] Approve")
    });
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn notification_deliveries_show_in_the_history_of_the_note() {
    let (port, _rx) = webhook_server();
    let (port2, _rx2) = webhook_server();
    let mut env = Env::new(&format!(
        "notify:\n  - {{ name: phone, kind: webhook, url: \"http://127.0.0.1:{port}/a\" }}\n  - {{ name: pager, kind: webhook, url: \"http://127.0.0.1:{port2}/b\" }}\n"
    ));
    env.start();
    let id = env.pay(1500);
    wait_for("both deliveries journaled", || {
        env.events(&id).iter().filter(|e| *e == "notified").count() == 2
    });
    wait_for("both deliveries in the note's History", || {
        let note = env.note(&id);
        note.contains("notified on phone") && note.contains("notified on pager")
    });
}

#[test]
fn the_approval_notification_says_when_a_held_request_runs() {
    let (port, rx) = webhook_server();
    let mut env = Env::new(&format!(
        "notify:\n  - {{ name: phone, kind: webhook, url: \"http://127.0.0.1:{port}/a\" }}\nrules:\n  - {{ name: later, when: {{ type: payment }}, decision: require, grace: 1h }}\n"
    ));
    env.start();
    let id = env.pay(1500);
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let decided = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let body = rx
            .recv_timeout(left)
            .expect("no approval notification")
            .to_string();
        if body.contains("Decided") && body.contains(&id) {
            break body;
        }
    };
    assert!(
        decided.contains("Runs at: ") && decided.contains("unless rejected or cancelled before"),
        "{decided}"
    );
}
