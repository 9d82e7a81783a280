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
                self.enter_outage(e)?;
                let why = self.outage_reason().unwrap_or_default();
                for (tx, _) in replies {
                    let _ = tx.send(Reply::error(format!("not done: {why}")));
                }
                return Ok(false);
            }
        };
        for effect in effects {
            self.carry_out(effect);
        }
        for (tx, reply) in replies {
            let _ = tx.send(match reply {
                Some(Ok(id)) => self.reply_for(&id),
                Some(Err(e)) => Reply::error(e.to_string()),
                None => Reply::error("no reply"),
            });
        }
        self.wake_waiters();
        self.tell_systemd();
        Ok(true)
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
            Err(e) => return self.enter_outage(e),
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
        self.reconcile_all(reconcile::Scope::Start)?;
        fail::fail_point!("startup-after-reconcile");
        for effect in effects {
            self.carry_out(effect);
        }
        Ok(())
    }

    /// Journals the steps' events (one fsync) and hands back their effects.
    pub(super) fn journal_steps(&mut self, steps: Vec<Step>) -> Result<Vec<Effect>, JournalError> {
        let events: Vec<Event> = steps
            .iter()
            .flat_map(|s| s.events.iter().cloned())
            .collect();
        self.journal.append(&events)?;
        self.show_on_dashboard(&events);
        // Only now may the inbox files of this batch go.
        self.remove_taken_inbox();
        for ev in &events {
            log_event(ev);
            self.last_event = Some(ev.time);
        }
        self.notices_for(&events);
        Ok(steps.into_iter().flat_map(|s| s.effects).collect())
    }
}
