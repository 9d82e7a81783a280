//! `Done/` by month: the events that say a settled request's note was
//! moved from directly in `Done/` into the folder of its month.

use jiff::Timestamp;

use super::{Machine, Step};
use crate::request::{Actor, EventKind, Id};

impl Machine {
    /// One `filed` event for each settled request of `moves` (its id and
    /// the folder its note goes to, `Done/2026-11`). The engine moves the
    /// notes once these are journaled. Open requests are skipped: only
    /// settled ones live in `Done/`.
    pub fn file_by_month(&mut self, moves: &[(Id, String)], now: Timestamp) -> Step {
        let mut step = Step::default();
        for (id, folder) in moves {
            if self.get(id).is_some_and(|r| r.status.is_final()) {
                let kind = EventKind::Filed {
                    folder: folder.clone(),
                };
                self.push(&mut step, now, id, &Actor::Hitl, kind);
            }
        }
        step
    }
}
