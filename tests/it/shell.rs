//! The engine run in-process through `engine::run`, on a clock the test
//! moves: deadlines are checked exactly, not by waiting them out.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use hitl::config::Config;
use hitl::engine::{self, Clock, Settings};
use hitl::ipc::{self, Command, Reply, Submit};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::util::{Env, wait_for, wait_for_some};

/// The daemon's engine on its own runtime thread in this process.
pub(crate) struct InProcess {
    pub(crate) clock: Clock,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl InProcess {
    pub(crate) fn start(env: &Env, clock: Clock) -> InProcess {
        let settings = Settings {
            config: Config::load(&env.config).unwrap(),
            config_path: Some(env.config.clone()),
            vault: env.vault.clone(),
            state_dir: env.state.clone(),
            clock: clock.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let (_reload_tx, reload) = mpsc::channel(1);
                let shutdown = async move {
                    let _ = stopped.await;
                };
                engine::run(settings, shutdown, reload)
                    .await
                    .map_err(|e| e.to_string())
            })
        });
        let state = env.state.clone();
        wait_for("the in-process daemon answers", || {
            call(&state, &Command::Status).is_ok()
        });
        InProcess {
            clock,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let ended = t.join().expect("the engine's thread panicked");
            if !std::thread::panicking() {
                ended.expect("the engine ended with an error");
            }
        }
    }
}

pub(crate) fn call(state: &Path, cmd: &Command) -> std::io::Result<Reply> {
    ipc::call(state, cmd, Some(Duration::from_secs(10)))
}

pub(crate) const START: &str = "2026-03-01T12:00:00Z";

/// A payment of 1500 (it needs approval) that may wait `timeout_s`.
pub(crate) fn submit(state: &Path, timeout_s: u64) -> String {
    let cmd = Command::Submit(Submit {
        action: "payment".into(),
        payload: json!({"amount": 1500, "recipient": "vendor@example.com", "currency": "USD"}),
        timeout_s: Some(timeout_s),
        ..Submit::default()
    });
    match call(state, &cmd).unwrap() {
        Reply::Request { id, .. } => id,
        other => panic!("not submitted: {other:?}"),
    }
}

pub(crate) fn reject(state: &Path, id: &str) -> Reply {
    let cmd = Command::Decide {
        id: id.into(),
        approve: false,
        reason: Some("not today".into()),
        code: None,
    };
    call(state, &cmd).unwrap()
}

pub(crate) fn event_time(env: &Env, id: &str, event: &str) -> Option<Timestamp> {
    env.journal()
        .into_iter()
        .find(|e| e["request"] == id && e["event"] == event)
        .map(|e| e["time"].as_str().unwrap().parse().unwrap())
}

#[test]
fn a_deadline_passes_exactly_when_the_clock_reaches_it() {
    let env = Env::new("");
    let start: Timestamp = START.parse().unwrap();
    let daemon = InProcess::start(&env, Clock::manual(start));
    let decided = submit(&env.state, 60);
    let waits = submit(&env.state, 60);
    assert_eq!(event_time(&env, &waits, "submitted"), Some(start));

    // One millisecond before the deadline a decision is still taken...
    daemon.clock.advance(SignedDuration::from_millis(59_999));
    let reply = reject(&env.state, &decided);
    assert!(
        matches!(&reply, Reply::Request { id, status: Some(s), .. } if *id == decided && s == "rejected"),
        "{reply:?}"
    );
    assert_eq!(env.events(&waits), ["submitted"]);

    // ...and at the deadline the other one expires, stamped with it.
    daemon.clock.advance(SignedDuration::from_millis(1));
    let expired = wait_for_some("the request expires", || {
        event_time(&env, &waits, "expired")
    });
    assert_eq!(expired, start + SignedDuration::from_secs(60));
    env.wait_note(&waits, "Done", "expired");
}

#[test]
fn a_decision_a_tick_after_the_deadline_is_refused() {
    let env = Env::new("");
    let start: Timestamp = START.parse().unwrap();
    let daemon = InProcess::start(&env, Clock::manual(start));
    let id = submit(&env.state, 60);
    daemon
        .clock
        .advance(SignedDuration::from_secs(60) + SignedDuration::from_millis(1));
    let reply = reject(&env.state, &id);
    let error = reply.refusal().expect("refused");
    assert!(error.contains("expired"), "{error}");
    wait_for("the expiry is journaled", || {
        env.events(&id) == ["submitted", "expired"]
    });
}

#[test]
fn a_deadline_passed_while_the_daemon_was_down_expires_at_start() {
    let env = Env::new("");
    let start: Timestamp = START.parse().unwrap();
    let id = {
        let _daemon = InProcess::start(&env, Clock::manual(start));
        submit(&env.state, 60)
    };
    assert_eq!(env.events(&id), ["submitted"]);
    let later = start + SignedDuration::from_secs(3600);
    let _daemon = InProcess::start(&env, Clock::manual(later));
    let expired = wait_for_some("the request expires at start", || {
        event_time(&env, &id, "expired")
    });
    assert_eq!(expired, later);
}
