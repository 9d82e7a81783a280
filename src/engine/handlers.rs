//! Handler runs as the engine sees them: starting them, their results, and
//! ending them at shutdown.

use std::future::Future;

use tokio::task::{self, JoinError};
use tokio::time::Instant;

use super::runs::{self, MarkerError};
use super::{DaemonError, Engine};
use crate::executor::Ran;
use crate::machine::{HandlerJob, Input};
use crate::request::{Event, EventKind, Id, Outcome, RunResult};

impl Engine {
    /// Starts exactly the run the journal promised (`job`); one that can't
    /// start still ends its request, through [`Self::not_started`].
    pub(super) fn start_handler(&mut self, id: &str, job: HandlerJob) {
        if let Err(e) = runs::create(&self.state_dir, id, job.attempt) {
            self.not_started(id, e);
            return;
        }
        fail::fail_point!("handler-before-spawn");
        let job = crate::executor::Job {
            id: id.to_string(),
            action: job.action,
            command: job.command,
            env: job.env,
            timeout: job.timeout,
            payload_json: job.payload_json,
            decided_by: job.decided_by,
            output_path: self.state_dir.join("output").join(format!("{id}.log")),
            stop: self.stop_handlers.subscribe(),
        };
        tracing::info!(request = %id, action = %job.action, "handler started");
        self.spawn_run(id, async move {
            fail::fail_point!("handler-task-panic");
            crate::executor::run(job).await
        });
    }

    /// Runs a handler task, remembering which request it is for: a task
    /// that panics still ends its request.
    fn spawn_run(&mut self, id: &str, run: impl Future<Output = Ran> + Send + 'static) {
        let request = id.to_string();
        let task = self.handlers.spawn(async move { (request, run.await) });
        self.tasks.insert(task.id(), id.to_string());
    }

    /// A finished handler task: its result, or for a task that panicked or
    /// was cancelled, `unknown` (it may have started the handler).
    pub(super) fn task_done(
        &mut self,
        done: Result<(task::Id, (Id, Ran)), JoinError>,
    ) -> Result<(), DaemonError> {
        let (id, ran) = match done {
            Ok((task, (id, ran))) => {
                self.tasks.remove(&task);
                (id, ran)
            }
            Err(e) => {
                let Some(id) = self.tasks.remove(&e.id()) else {
                    tracing::error!(error = %e, "a handler task of no known request failed");
                    return Ok(());
                };
                tracing::error!(request = %id, error = %e, "the handler's task failed; its outcome is unknown");
                (id, lost_task(&e))
            }
        };
        self.handler_done(id, ran)
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
        self.spawn_run(id, async move { ran });
    }

    /// Journals a run's result; if the journal can't be written, the result
    /// is held until it can.
    pub(super) fn handler_done(&mut self, id: Id, ran: Ran) -> Result<(), DaemonError> {
        let input = Input::HandlerDone {
            id: id.clone(),
            ran: ran.clone(),
        };
        let step = self.machine.handle(input, self.clock.now());
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
            let next =
                match tokio::time::timeout_at(deadline, self.handlers.join_next_with_id()).await {
                    Ok(next) => next,
                    Err(_) => {
                        tracing::warn!(
                            running = self.handlers.len(),
                            "grace period over: ending the running handlers"
                        );
                        let _ = self.stop_handlers.send(true);
                        self.handlers.join_next_with_id().await
                    }
                };
            if let Some(done) = next {
                self.task_done(done)?;
            }
        }
        Ok(())
    }
}

/// The record of a handler task that panicked or was cancelled: whether
/// its handler ran is not known.
fn lost_task(e: &JoinError) -> Ran {
    Ran {
        outcome: Outcome::Interrupted,
        result: RunResult {
            exit_code: None,
            duration_ms: 0,
            output: String::new(),
            truncated: false,
            error: Some(format!(
                "hitl lost track of the handler ({e}); it may have run"
            )),
        },
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
            tracing::warn!(request = %id, event, %why, "outcome unknown")
        }
        _ => tracing::info!(request = %id, event, actor = %actor, "journaled"),
    }
}
