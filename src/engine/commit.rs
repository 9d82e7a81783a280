//! Committing a batch: journal its events (one fsync), and only then carry
//! out its effects and answer its callers. A batch that can't be journaled
//! is undone instead (see [`super::outage`]).

use super::{DaemonError, Engine, PendingReply, reconcile, runs, systemd};
use crate::ipc::Reply;
use crate::journal::JournalError;
use crate::machine::{Effect, Step};
use crate::request::Event;

use super::handlers::log_event;

impl Engine {
    /// Journals the steps' events (one fsync), then carries out their
    /// effects, answers the callers, and wakes waiters whose request settled.
    pub(super) fn commit(
        &mut self,
        steps: Vec<Step>,
        replies: Vec<PendingReply>,
    ) -> Result<(), DaemonError> {
        self.try_commit(steps, replies).map(|_| ())
    }

    /// [`Engine::commit`], telling whether the batch was journaled. If it
    /// was not, the state goes back to the journal's, the callers are told,
    /// none of its effects is carried out, and the engine takes no new work
    /// until the journal can be written again.
    pub(super) fn try_commit(
        &mut self,
        steps: Vec<Step>,
        replies: Vec<PendingReply>,
    ) -> Result<bool, DaemonError> {
        let effects = match self.journal_steps(steps) {
            Ok(effects) => effects,
            Err(e) => {
                self.inbox_taken.clear();
                // What was read for this batch is read again once it can be.
                self.files.forget_stamps();
                self.enter_outage(e)?;
                let why = self.outage_reason().unwrap_or_default();
                for (tx, _) in replies {
                    let _ = tx.send(Reply::error(format!("not done: {why}")));
                }
                return Ok(false);
            }
        };
        self.carry_out_all(effects);
        for (tx, reply) in replies {
            let _ = tx.send(match reply {
                Some(Ok(id)) => self.reply_for(&id),
                Some(Err(e)) => Reply::error(e.to_string()),
                None => Reply::error("no reply"),
            });
        }
        self.wake_waiters();
        self.tell_systemd();
        let every = self.machine.config().checkpoint_every;
        if every > 0 && self.since_checkpoint >= every {
            self.checkpoint(false);
        }
        Ok(true)
    }

    /// Writes a checkpoint of the state, which is the journal's now (all
    /// of a batch's events are journaled before its effects, and an
    /// unjournaled batch is undone). A failure costs only start-up time.
    /// The archived settled requests go to disk first when there are
    /// enough of them, or any at a `stop` (`checkpoint_cold.rs`).
    pub(super) fn checkpoint(&mut self, stop: bool) {
        if self.outage.is_some() {
            return;
        }
        let started = std::time::Instant::now();
        let compacted = self.machine.compact();
        tracing::debug!(compacted, "settled requests kept as compact records");
        let now = self.clock.now();
        let cold = super::checkpoint::cold::go_cold(
            &self.state_dir,
            &self.journal,
            &mut self.machine,
            now,
            stop,
        );
        if let Err(error) = cold {
            tracing::warn!(%error, "could not write the settled index; the archived requests stay in memory");
        }
        match super::checkpoint::write(
            &self.state_dir,
            &self.journal,
            self.last_event,
            &self.machine,
        ) {
            Ok(()) => {
                self.since_checkpoint = 0;
                tracing::info!(
                    seq = self.journal.head().0,
                    ms = started.elapsed().as_millis() as u64,
                    "checkpoint written"
                );
            }
            Err(error) => {
                tracing::warn!(%error, "could not write a checkpoint; start-up will replay more of the journal")
            }
        }
        self.save_stamps();
    }

    pub(super) fn tell_systemd(&mut self) {
        let status = self.status_line();
        if status != self.last_status {
            systemd::status(&status);
            self.last_status = status;
        }
    }

    /// Journals the recovery (runs cut short by a restart) and carries it
    /// out once the reconcile has found where the notes are. During an
    /// outage it waits, and runs when the journal can be written again.
    pub(super) fn recover_and_reconcile(&mut self) -> Result<(), DaemonError> {
        let Some(effects) = self.recover()? else {
            return Ok(());
        };
        self.reconcile_all(reconcile::Scope::Start)?;
        self.after_start_reconcile(effects);
        Ok(())
    }

    /// [`Engine::recover_and_reconcile`] at start: the reading can be
    /// stopped by dropping this future (a shutdown during start-up).
    pub(super) async fn start_up(&mut self) -> Result<(), DaemonError> {
        let Some(effects) = self.recover()? else {
            return Ok(());
        };
        self.reconcile_at_start().await?;
        self.after_start_reconcile(effects);
        self.file_done_by_month()?;
        self.schedule_all_reminders();
        self.resend_codes();
        self.owe_history_at_start();
        Ok(())
    }

    fn after_start_reconcile(&mut self, effects: Vec<Effect>) {
        fail::fail_point!("startup-after-reconcile");
        self.carry_out_all(effects);
    }

    /// Journals the recovery; its effects wait for the start-up reconcile.
    /// `None` during an outage.
    fn recover(&mut self) -> Result<Option<Vec<Effect>>, DaemonError> {
        let state = self.state_dir.clone();
        let step = self.machine.recover(self.clock.now(), |id, n| {
            let started = runs::started(&state, id, n);
            if !started {
                tracing::info!(request = %id, attempt = n, "journaled as executing, but its handler never started: starting it now");
            }
            started
        });
        let mut effects = match self.journal_steps(vec![step]) {
            Ok(effects) => effects,
            Err(e) => return self.enter_outage(e).map(|()| None),
        };
        self.recovered = true;
        // What a requester was told is queued is journaled before the vault,
        // however large, is read.
        match self.take_inbox_at_start() {
            Ok(more) => effects.extend(more),
            Err(e) => {
                self.inbox_taken.clear();
                self.enter_outage(e)?;
            }
        }
        // At start the notes of settled requests count too: a crash may
        // have lost one.
        fail::fail_point!("startup-before-reconcile");
        Ok(Some(effects))
    }

    /// Journals the steps' events (one fsync) and hands back their effects.
    pub(super) fn journal_steps(&mut self, steps: Vec<Step>) -> Result<Vec<Effect>, JournalError> {
        let events: Vec<Event> = steps
            .iter()
            .flat_map(|s| s.events.iter().cloned())
            .collect();
        self.journal.append(&events)?;
        self.machine.journaled(&events, self.journal.appended());
        self.show_on_dashboard(&events);
        // Only now may the inbox files of this batch go.
        self.remove_taken_inbox();
        self.since_checkpoint += events.len() as u64;
        for ev in &events {
            log_event(ev);
            self.files.changed(&ev.request);
            self.last_event = Some(ev.time);
        }
        self.notices_for(&events);
        Ok(steps.into_iter().flat_map(|s| s.effects).collect())
    }
}
