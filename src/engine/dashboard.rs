//! The engine's side of `Approvals.md`: it starts the page's thread with
//! every request and, after each journaled batch, hands it the entries of
//! the requests the batch changed. Rendering and writing happen there
//! (`crate::dashboard::Writer`), never on the engine's path.

use std::sync::Arc;

use jiff::tz::TimeZone;

use super::{Clock, Engine};
use crate::config::Config;
use crate::dashboard::{Entry, FILE_NAME, Pace, Writer};
use crate::machine::Machine;
use crate::request::Event;
use crate::vault::Vault;

pub(super) fn start(
    vault: &Vault,
    machine: &Machine,
    events: &[&Event],
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
    for f in crate::dashboard::failures(machine, events.iter().copied()) {
        writer.notify_failed(f);
    }
    writer
}

impl Engine {
    /// Hands the page the requests `events` changed (journaled already),
    /// and the notifications they record as undelivered.
    pub(super) fn show_on_dashboard(&self, events: &[Event]) {
        for f in crate::dashboard::failures(&self.machine, events) {
            self.dashboard.notify_failed(f);
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
