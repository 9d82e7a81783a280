//! The engine's side of `Approvals.md`: it starts the page's thread with
//! every request and, after each journaled batch, hands it the entries of
//! the requests the batch changed. Rendering and writing happen there
//! (`crate::dashboard::Writer`), never on the engine's path.

use std::sync::Arc;

use jiff::tz::TimeZone;

use super::{Clock, Engine};
use crate::config::Config;
use crate::dashboard::{Entry, FILE_NAME, NotifyFailure, Pace, SettledEntries, Writer};
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
    let read = Reader {
        path: journal.path().to_path_buf(),
        chain: journal.chain().clone(),
    };
    // The hot records copied, the cold file shared: the pass over every
    // record (millions, from disk) runs on the page's thread.
    let snapshot = machine.settled_index().snapshot();
    let now = clock.now();
    let writer = Writer::spawn_with(
        vault.root.join(FILE_NAME),
        entries,
        Box::new(move || settled_entries(snapshot.into_iter(), read, now)),
        move || clock.now(),
        tz.clone(),
        Pace::daemon(config.dashboard_refresh),
    );
    for f in crate::dashboard::failures(machine) {
        writer.notify_failed(f);
    }
    writer
}

/// Reads a settled request's lines back from the journal, by offset.
struct Reader {
    path: std::path::PathBuf,
    chain: crate::journal::key::Chain,
}

impl Reader {
    fn load(&self, s: &Settled) -> Option<crate::request::Request> {
        match super::details::load(&self.path, &self.chain, s) {
            Ok(r) => Some(r),
            Err(error) => {
                tracing::warn!(request = %s.id(), %error, "dashboard: a settled request's lines could not be read back");
                None
            }
        }
    }
}

/// In one pass over the settled requests' compact records: those a
/// render could show, the count of the others, and the undelivered
/// notifications of those whose record says they have some (read back
/// from the journal); and how the page reads the details of those it
/// lists. Chosen as of start: a request too old for the page then stays
/// too old.
fn settled_entries(
    records: impl Iterator<Item = Settled>,
    read: Reader,
    now: jiff::Timestamp,
) -> SettledEntries {
    let mut undelivered = Vec::new();
    let noting = records.inspect(|s| {
        if s.has(flag::UNDELIVERED) {
            undelivered.push(*s);
        }
    });
    let (records, tally) = crate::dashboard::choose(noting, |_| false, now);
    let failures = (undelivered.iter())
        .filter_map(|s| read.load(s))
        .flat_map(|r| crate::dashboard::failures_of(&r))
        .collect();
    let details = move |s: &Settled| read.load(s).map(|r| Entry::from(&r));
    SettledEntries {
        records,
        tally,
        details: Some(Box::new(details)),
        failures,
    }
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
