//! The desktop channel on a private session bus, against a notification
//! server this test provides (zbus), which records what it shows and
//! clicks Approve.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use super::Server;
use crate::util::{BIN, wait_for};

#[test]
fn desktop_without_a_session_bus_is_reported_not_hung() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, "notify:\n  - { name: desk, kind: desktop }\n").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(&config).args(["notify", "test"]);
    cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("desk: error: no D-Bus session bus"),
        "{stdout}"
    );
}

/// What the test's notification server saw: summary, body, actions.
pub type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Vec<String>)>>>;

/// A freedesktop notification server with actions, recording what it shows.
pub struct Notifications {
    pub seen: Seen,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    fn get_capabilities(&self) -> Vec<String> {
        vec!["actions".into(), "body".into()]
    }

    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        _app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        _hints: std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        self.seen.lock().unwrap().push((summary, body, actions));
        7
    }

    fn close_notification(&self, _id: u32) {}

    fn get_server_information(&self) -> (String, String, String, String) {
        ("hitl-test".into(), "hitl".into(), "1".into(), "1.2".into())
    }

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;
}

/// A private session bus: `dbus-daemon --session`, its address.
pub fn private_bus() -> Option<(Server, String)> {
    let mut child = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut address = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut address)
        .ok()?;
    Some((Server(child), address.trim().to_string()))
}

/// A private bus with the test's notification server on it: the bus (kept
/// alive by the caller), its address, what the server was shown, and the
/// connection it serves on. `None` (said by [`crate::util::missing_tool`])
/// without dbus-daemon.
pub fn notification_server(
    test: &str,
) -> Option<(Server, String, Seen, zbus::blocking::Connection)> {
    let Some((bus, address)) = private_bus() else {
        crate::util::missing_tool(&format!("{test}: no dbus-daemon (.ci/run installs dbus)"));
        return None;
    };
    let seen = Seen::default();
    let server = Notifications { seen: seen.clone() };
    let conn = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .name("org.freedesktop.Notifications")
        .unwrap()
        .serve_at("/org/freedesktop/Notifications", server)
        .unwrap()
        .build()
        .unwrap();
    Some((bus, address, seen, conn))
}

#[test]
fn desktop_notification_offers_approve_and_reports_the_click() {
    let Some((_bus, address, seen, conn)) = notification_server("desktop test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, "notify:\n  - { name: desk, kind: desktop }\n").unwrap();
    let mut hitl = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["notify", "test", "desk", "--wait-action", "60s"])
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut hitl_out = hitl.stdout.take().unwrap();
    let mut hitl = Server(hitl);
    wait_for("the notification on the test server", || {
        !seen.lock().unwrap().is_empty()
    });
    let (summary, body, actions) = seen.lock().unwrap()[0].clone();
    assert!(
        summary.starts_with("Approval needed: hitl.test"),
        "{summary}"
    );
    assert!(body.contains("hitl approve test"), "{body}");
    assert_eq!(actions, ["approve", "Approve", "reject", "Reject"]);
    // hitl subscribes to clicks once the notification is shown: click until
    // it has seen one (or the 15 s of wait_for run out).
    let iface = conn
        .object_server()
        .interface::<_, Notifications>("/org/freedesktop/Notifications")
        .unwrap();
    wait_for("hitl to take the click", || {
        zbus::block_on(Notifications::action_invoked(
            iface.signal_emitter(),
            7,
            "approve",
        ))
        .unwrap();
        hitl.0.try_wait().unwrap().is_some()
    });
    let mut stdout = String::new();
    hitl_out.read_to_string(&mut stdout).unwrap();
    assert_eq!(stdout, "desk: ok\ndesk: action Approve on test\n");
}

#[test]
fn desktop_approve_click_approves_the_pending_request_through_the_daemon() {
    let Some((_bus, address, seen, conn)) = notification_server("desktop action test") else {
        return;
    };
    let mut env = crate::util::Env::new("notify:\n  - { name: desk, kind: desktop }\n");
    env.start_env(&[("DBUS_SESSION_BUS_ADDRESS", &address)]);
    let id = env.pay(1500);
    wait_for("the notification on the test server", || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|(_, body, _)| body.contains(&id))
    });
    let (summary, _, actions) = seen.lock().unwrap()[0].clone();
    assert!(summary.starts_with("Approval needed: payment"), "{summary}");
    assert_eq!(actions, ["approve", "Approve", "reject", "Reject"]);
    let iface = conn
        .object_server()
        .interface::<_, Notifications>("/org/freedesktop/Notifications")
        .unwrap();
    // The daemon listens for clicks once the notification is shown: click
    // until the request is decided.
    wait_for("the click to approve the request", || {
        zbus::block_on(Notifications::action_invoked(
            iface.signal_emitter(),
            7,
            "approve",
        ))
        .unwrap();
        env.events(&id).contains(&"approved".to_string())
    });
    let approved = env
        .journal()
        .into_iter()
        .find(|e| e["request"] == id && e["event"] == "approved")
        .unwrap();
    assert_eq!(approved["actor"], "desktop:desk");
    assert_eq!(
        approved["details"]["gesture"],
        "Approve on the desktop notification"
    );
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}
