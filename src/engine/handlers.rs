//! Handler runs as the engine sees them: starting them, their results, and
//! ending them at shutdown.

use tokio::time::Instant;

use super::runs::{self, MarkerError};
use super::{DaemonError, Engine};
use crate::executor::Ran;
use crate::machine::Input;
use crate::request::{Event, EventKind, Id, Outcome, RunResult};
use jiff::Timestamp;

impl Engine {
    pub(super) fn start_handler(&mut self, id: &str) {
        let Some(req) = self.machine.get(id) else {
            return;
        };
        let Some(handler) = self.machine.config().handlers.get(&req.sub.action) else {
            return;
        };
        if let Err(e) = runs::create(&self.state_dir, id, req.attempts) {
            self.not_started(id, e);
            return;
        }
        fail::fail_point!("handler-before-spawn");
        let job = crate::executor::Job {
            id: id.to_string(),
            action: req.sub.action.clone(),
            command: handler.command.clone(),
            env: handler.env.clone(),
            timeout: handler.timeout,
            payload_json: crate::payload::canonical(&req.sub.payload),
            decided_by: req.decision().map(|d| d.by.clone()).unwrap_or_default(),
            output_path: self.state_dir.join("output").join(format!("{id}.log")),
            stop: self.stop_handlers.subscribe(),
        };
        tracing::info!(request = %id, action = %job.action, "handler started");
        let id = id.to_string();
        self.handlers
            .spawn(async move { (id, crate::executor::run(job).await) });
    }

    /// A run whose marker could not be created never starts. One whose
    /// marker exists may have run before (the journal's tail was lost):
    /// its outcome is unknown. One whose marker could not be written is
    /// failed: it certainly did not run. Either way the result comes back
    /// as an engine input and is journaled like any other.
    fn not_started(&mut self, id: &str, why: MarkerError) {
        let interrupted = matches!(why, MarkerError::Exists(_));
        let error = if interrupted {
            tracing::warn!(request = %id, error = %why, "handler not started: it may have run before");
            format!(
                "not started again: {why}; it may have run before hitl's journal lost its last events"
            )
        } else {
            tracing::error!(request = %id, error = %why, "handler not started");
            format!("not started: {why}")
        };
        let outcome = if interrupted {
            Outcome::Interrupted
        } else {
            Outcome::SpawnFailed
        };
        let ran = Ran {
            outcome,
            result: RunResult {
                exit_code: None,
                duration_ms: 0,
                output: String::new(),
                truncated: false,
                error: Some(error),
            },
        };
        let id = id.to_string();
        self.handlers.spawn(async move { (id, ran) });
    }

    /// Journals a run's result; if the journal can't be written, the result
    /// is held until it can.
    pub(super) fn handler_done(&mut self, id: Id, ran: Ran) -> Result<(), DaemonError> {
        let input = Input::HandlerDone {
            id: id.clone(),
            ran: ran.clone(),
        };
        let step = self.machine.handle(input, Timestamp::now());
        if !self.try_commit(vec![step], Vec::new())? {
            tracing::warn!(request = %id, "the handler's result is held until the journal can be written");
            self.held.push((id, ran));
        }
        Ok(())
    }

    /// On shutdown, running handlers get the grace period to finish; then
    /// their process groups are ended and their requests become `unknown`.
    pub(super) async fn finish_handlers(&mut self) -> Result<(), DaemonError> {
        let grace = self.machine.config().shutdown_grace;
        if !self.handlers.is_empty() {
            tracing::info!(
                running = self.handlers.len(),
                ?grace,
                "waiting for running handlers"
            );
        }
        let deadline = Instant::now() + grace;
        while !self.handlers.is_empty() {
            let next = match tokio::time::timeout_at(deadline, self.handlers.join_next()).await {
                Ok(next) => next,
                Err(_) => {
                    tracing::warn!(
                        running = self.handlers.len(),
                        "grace period over: ending the running handlers"
                    );
                    let _ = self.stop_handlers.send(true);
                    self.handlers.join_next().await
                }
            };
            if let Some(Ok((id, ran))) = next {
                self.handler_done(id, ran)?;
            }
        }
        Ok(())
    }
}

/// One log line per decision the daemon journals.
pub(super) fn log_event(ev: &Event) {
    let (id, event, actor) = (&ev.request, ev.kind.name(), &ev.actor);
    match &ev.kind {
        EventKind::Tampered { changed, .. } => tracing::warn!(
            request = %id, event, actor = %actor, changed = ?changed,
            "the note was changed where only hitl writes: tampered, it will never run"
        ),
        EventKind::Failed(r) | EventKind::Executed(r) => tracing::info!(
            request = %id, event, exit_code = ?r.exit_code, duration_ms = r.duration_ms, "handler finished"
        ),
        EventKind::Unknown { why } => {
            tracing::warn!(request = %id, event, "outcome unknown: {why}")
        }
        _ => tracing::info!(request = %id, event, actor = %actor, "journaled"),
    }
}
