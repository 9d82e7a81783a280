//! A settled request's details, read back from the journal by the offsets
//! its compact record keeps ([`crate::request::Settled`]): for its note,
//! a reply about it, or an input about it, which the machine decides on
//! the whole request ([`Machine::restore`]).

use std::borrow::Cow;

use super::Engine;
use crate::journal::JournalError;
use crate::machine::{Input, Machine};
use crate::request::settled::archived_at;
use crate::request::{Request, Settled, apply};

/// The request `s` records, rebuilt from its journal lines.
pub fn load(
    path: &std::path::Path,
    chain: &crate::journal::key::Chain,
    s: &Settled,
) -> Result<Request, JournalError> {
    let id = s.id();
    let events = crate::journal::request_events(path, chain, s.first, s.last, &id)?;
    let mut one = std::collections::BTreeMap::new();
    for ev in &events {
        apply(&mut one, ev).map_err(|e| JournalError::Damaged {
            path: path.to_path_buf(),
            line: 0,
            problem: e.to_string(),
        })?;
    }
    one.remove(&id).ok_or_else(|| JournalError::Damaged {
        path: path.to_path_buf(),
        line: 0,
        problem: format!("no `submitted` line of request {id} at byte {}", s.first),
    })
}

/// A request, open or settled, in full, for the CLI's read-only commands
/// (the journal in `state`).
pub fn read_request<'a>(
    state: &std::path::Path,
    machine: &'a Machine,
    id: &str,
) -> Result<Option<Cow<'a, Request>>, JournalError> {
    if machine.settled(id).is_none() {
        return Ok(machine.get(id).map(Cow::Borrowed));
    }
    // Settled: read back from the journal, with its key.
    let path = state.join("journal.jsonl");
    let chain = crate::journal::chain_for(&path)?;
    lookup(machine, &path, &chain, id)
}

/// A request, open or settled, in full; `Ok(None)` if unknown, an error
/// if it is settled and its lines can't be read back.
pub fn lookup<'a>(
    machine: &'a Machine,
    path: &std::path::Path,
    chain: &crate::journal::key::Chain,
    id: &str,
) -> Result<Option<Cow<'a, Request>>, JournalError> {
    if let Some(r) = machine.get(id) {
        return Ok(Some(Cow::Borrowed(r)));
    }
    let Some(s) = machine.settled(id) else {
        return Ok(None);
    };
    load(path, chain, &s).map(|r| Some(Cow::Owned(r)))
}

/// A request, open or settled, in full; `None` if unknown or unreadable.
pub fn details<'a>(
    machine: &'a Machine,
    path: &std::path::Path,
    chain: &crate::journal::key::Chain,
    id: &str,
) -> Option<Cow<'a, Request>> {
    lookup(machine, path, chain, id).unwrap_or_else(|error| {
        tracing::error!(request = %id, %error, "a settled request's lines could not be read back");
        None
    })
}

impl Engine {
    /// Holds the settled request `id` in full again, for an input about it.
    pub(super) fn hydrate(&mut self, id: &str) {
        let Some(s) = self.machine.settled(id) else {
            return;
        };
        match load(self.journal.path(), self.journal.chain(), &s) {
            Ok(r) => {
                tracing::debug!(request = %id, "settled request's details read back from the journal");
                self.machine.restore(r);
                self.dashboard.held(s);
            }
            Err(error) => {
                tracing::error!(request = %id, %error, "a settled request's lines could not be read back")
            }
        }
    }

    /// [`Engine::hydrate`] for the request an input concerns.
    pub(super) fn hydrate_for(&mut self, input: &Input) {
        let id = match input {
            Input::Decide(d) => Some(d.id.as_str()),
            Input::Cancel { id, .. } | Input::Resolve { id, .. } => Some(id.as_str()),
            Input::Note(seen) => seen
                .view
                .as_ref()
                .ok()
                .and_then(|v| v.hitl_id.as_deref())
                .or(seen.tracked.as_deref()),
            Input::Submit(_) | Input::HandlerDone { .. } | Input::Tick => None,
        };
        if let Some(id) = id.map(str::to_string) {
            self.hydrate(&id);
        }
    }
}

impl Engine {
    /// Whether `id` settled longer ago than `done_notes_kept`: its Done
    /// note is then an archived copy, neither tracked nor kept up.
    pub(super) fn archived(&self, id: &str) -> bool {
        let (now, kept) = (self.clock.now(), self.machine.config().done_notes_kept);
        match self.machine.get(id) {
            Some(r) => r.status.is_final() && archived_at(r.settled_at(), now, kept),
            None => (self.machine.settled(id)).is_some_and(|s| s.archived(now, kept)),
        }
    }

    /// The settled requests (compact records) a reconcile judges the
    /// notes of: all at start-up, else those suspected missing.
    /// Archived ones (`done_notes_kept`) are not: their notes are plain
    /// copies, not regenerated when missing.
    pub(super) fn settled_candidates(&self, startup: bool) -> Vec<crate::request::Id> {
        if startup {
            let (now, kept) = (self.clock.now(), self.machine.config().done_notes_kept);
            // Only hot ones: a cold one was archived when it went there.
            let all = self.machine.settled_index().iter_hot();
            let kept = all.filter(|s| !s.archived(now, kept));
            return kept.map(Settled::id).collect();
        }
        let suspects = self.suspects.keys();
        suspects
            .filter(|id| self.machine.settled(id).is_some())
            .cloned()
            .collect()
    }

    /// The settled requests (compact records) whose notes lie directly in
    /// `done`, with the month each belongs to (archived ones have none).
    pub(super) fn settled_in(&self, done: &std::path::Path) -> Vec<(crate::request::Id, String)> {
        let (now, kept) = (self.clock.now(), self.machine.config().done_notes_kept);
        let mut out = Vec::new();
        // An archived request's note is not tracked: skipped before its
        // id is even spelled out.
        for s in (self.machine.settled_index().iter_hot()).filter(|s| !s.archived(now, kept)) {
            let id = s.id();
            let here = self.files.path_of(&id).and_then(|p| p.parent()) == Some(done);
            if here {
                out.push((id, crate::vault::month_of(s.changed(), &self.tz)));
            }
        }
        out
    }
}
