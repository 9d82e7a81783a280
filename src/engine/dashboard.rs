//! The engine's side of `Approvals.md`: it starts the page's thread with
//! every request and, after each journaled batch, hands it the entries of
//! the requests the batch changed. Rendering and writing happen there
//! (`crate::dashboard::Writer`), never on the engine's path.

use std::sync::Arc;

use jiff::tz::TimeZone;

use super::{Clock, Engine};
use crate::config::Config;
use crate::dashboard::{Counted, Entry, FILE_NAME, NotifyFailure, Pace, SettledEntries, Writer};
use crate::journal::Journal;
use crate::machine::Machine;
use crate::request::Event;
use crate::request::Settled;
use crate::request::settled::flag;
use crate::vault::Vault;

pub(super) fn start(
    vault: &Vault,
    machine: &Machine,
    journal: &Journal,
    clock: &Clock,
    tz: &TimeZone,
    config: &Arc<Config>,
) -> Writer {
    let entries = machine.requests().values().map(Entry::from).collect();
    let clock = clock.clone();
    let writer = Writer::spawn_with(
        vault.root.join(FILE_NAME),
        entries,
        settled_entries(machine, journal, clock.now()),
        move || clock.now(),
        tz.clone(),
        Pace::daemon(config.dashboard_refresh),
    );
    for f in crate::dashboard::failures(machine) {
        writer.notify_failed(f);
    }
    for f in settled_failures(machine, journal) {
        writer.notify_failed(f);
    }
    writer
}

/// The settled requests' compact records a render could show, the count
/// of the others, and how the page reads the details of those it lists:
/// from the journal, by their offsets. Chosen as of start: a request too
/// old for the page then stays too old.
fn settled_entries(machine: &Machine, journal: &Journal, now: jiff::Timestamp) -> SettledEntries {
    let index = machine.settled_index();
    let all: Vec<Settled> = index.iter_all().collect();
    let (chosen, _) = crate::dashboard::choose(all.iter(), |_| false, now);
    let records: Vec<Settled> = chosen.into_iter().copied().collect();
    let counted = Counted::of(all.iter(), &records);
    let (path, chain) = (journal.path().to_path_buf(), journal.chain().clone());
    let details = move |s: &Settled| match super::details::load(&path, &chain, s) {
        Ok(r) => Some(Entry::from(&r)),
        Err(error) => {
            tracing::warn!(request = %s.id(), %error, "dashboard: a settled request's lines could not be read back");
            None
        }
    };
    SettledEntries {
        records,
        counted,
        details: Some(Box::new(details)),
    }
}

/// The undelivered notifications of settled requests, read back from the
/// journal for those whose record says they have some.
fn settled_failures(machine: &Machine, journal: &Journal) -> Vec<NotifyFailure> {
    let with_failures = machine
        .settled_index()
        .iter_all()
        .filter(|s| s.has(flag::UNDELIVERED));
    let mut out = Vec::new();
    for s in with_failures {
        if let Ok(r) = super::details::load(journal.path(), journal.chain(), &s) {
            out.extend(crate::dashboard::failures_of(&r));
        }
    }
    out
}

impl Engine {
    /// Hands the page the requests `events` changed (journaled already),
    /// and the notifications they record as undelivered.
    pub(super) fn show_on_dashboard(&self, events: &[Event]) {
        let stem = |id: &str| {
            self.machine
                .get(id)
                .map(|r| Entry::from(r).stem.into_string())
        };
        for ev in events {
            if let Some(f) = NotifyFailure::from_event(ev, stem(&ev.request)) {
                self.dashboard.notify_failed(f);
            }
        }
        let mut ids: Vec<&str> = events.iter().map(|e| e.request.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let entries = ids
            .into_iter()
            .filter_map(|id| self.machine.get(id))
            .map(Entry::from)
            .collect();
        self.dashboard.changed(entries);
    }
}
