//! After a restart, and after a batch that could not be journaled: what
//! the machine does about runs cut short, and rebuilding from the journal.

use jiff::Timestamp;

use super::{Effect, Machine, Step};
use crate::request::{Actor, ApplyError, Event, EventKind, Id, Status};

impl Machine {
    /// After a restart. `started(id, attempt)` tells whether that run's
    /// marker exists, that is whether its handler was ever spawned.
    ///
    /// A run the journal calls `executing` that never started is started
    /// now, under the attempt already journaled: recovery starts what it
    /// journaled, so an idempotent handler's one re-run is not spent on a
    /// run that never happened. A run that did start has an unknown
    /// outcome (an idempotent handler runs again once, with the same key).
    /// An approval whose handler never started starts it now.
    pub fn recover(&mut self, now: Timestamp, started: impl Fn(&str, u32) -> bool) -> Step {
        let mut step = Step::default();
        let ids: Vec<(Id, Status, u32)> = self
            .requests
            .values()
            .map(|r| (r.id.clone(), r.status.clone(), r.attempts))
            .collect();
        for (id, status, attempt) in ids {
            match status {
                Status::Executing { .. } if !started(&id, attempt) => match self.job(&id) {
                    Some(job) => step.effects.push(Effect::StartHandler { id, job }),
                    None => self.no_handler(&mut step, now, &id),
                },
                Status::Executing { .. } => self.ran_before_the_restart(&mut step, now, id),
                // An undo window still open runs at its deadline.
                Status::ApprovedToRun { .. } if self.in_window(&id) => {
                    let ended = self.ledger.held_until(&id).is_some_and(|t| t <= now);
                    ended.then(|| self.release(&mut step, now, &id));
                }
                Status::ApprovedToRun { .. } => self.start_handler(&mut step, now, &id),
                _ => {}
            }
        }
        step
    }

    fn ran_before_the_restart(&mut self, step: &mut Step, now: Timestamp, id: Id) {
        let req = &self.requests[&id];
        let idempotent = self
            .config
            .handlers
            .get(&req.sub.action)
            .is_some_and(|h| h.idempotent);
        // An idempotent handler is re-run once, with the same key.
        let rerun = idempotent && req.attempts < 2;
        let why = if rerun {
            "hitl stopped while the handler was running; its handler is idempotent, so it runs again once"
        } else {
            "hitl stopped while the handler was running"
        };
        self.push(
            step,
            now,
            &id,
            &Actor::Hitl,
            EventKind::Unknown { why: why.into() },
        );
        if rerun {
            self.start_handler(step, now, &id);
        }
        step.effects.push(Effect::WriteNote { id, adopt: None });
    }

    /// A machine rebuilt from `events` with this one's config, keeping the
    /// note warnings of requests still pending: for when a batch of events
    /// could not be journaled and the state must go back to the journal's.
    pub fn rebuild<'a>(
        &self,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<Machine, ApplyError> {
        let mut m = Machine::replay(self.config.clone(), events)?;
        m.keys = self.keys.clone();
        m.warnings = self
            .warnings
            .iter()
            .filter(|(id, _)| m.get(id).is_some_and(|r| r.status == Status::Pending))
            .map(|(id, w)| (id.clone(), w.clone()))
            .collect();
        Ok(m)
    }
}
