//! The engine's side of `Approvals.md`: it starts the page's thread with
//! every request and, after each journaled batch, hands it the entries of
//! the requests the batch changed. Rendering and writing happen there
//! (`crate::dashboard::Writer`), never on the engine's path.

use std::sync::Arc;

use jiff::tz::TimeZone;

use super::{Clock, Engine};
use crate::config::Config;
use crate::dashboard::{Entry, FILE_NAME, NotifyFailure, Pace, Writer};
use crate::machine::Machine;
use crate::request::Event;
use crate::vault::Vault;

pub(super) fn start(
    vault: &Vault,
    machine: &Machine,
    clock: &Clock,
    tz: &TimeZone,
    config: &Arc<Config>,
) -> Writer {
    let entries = machine.requests().values().map(Entry::from).collect();
    let clock = clock.clone();
    let writer = Writer::spawn(
        vault.root.join(FILE_NAME),
        entries,
        move || clock.now(),
        tz.clone(),
        Pace::daemon(config.dashboard_refresh),
    );
    for f in crate::dashboard::failures(machine) {
        writer.notify_failed(f);
    }
    writer
}

impl Engine {
    /// Hands the page the requests `events` changed (journaled already),
    /// and the notifications they record as undelivered.
    pub(super) fn show_on_dashboard(&self, events: &[Event]) {
        let stem = |id: &str| self.machine.get(id).map(|r| Entry::from(r).stem);
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
