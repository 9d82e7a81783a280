//! Where the machine keeps its requests: open ones in full, settled ones
//! as compact records once the journal holds their lines
//! ([`Machine::compact`]). A settled request's details come back from the
//! journal when an input concerns it ([`Machine::restore`], by the
//! engine), so the machine's decisions always see a full request.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Ledger, Machine};
use crate::config::Config;
use crate::request::lookup::{SettledLookups, drop_in_hash, hash64};
use crate::request::settled::id_number;
use crate::request::{Event, Id, Request, Settled, SettledIndex, Source};

/// What a replay or a checkpoint rebuilt, for [`Machine::from_parts`].
#[derive(Default)]
pub struct Parts {
    pub requests: BTreeMap<Id, Request>,
    pub spans: HashMap<Id, (u64, u64)>,
    pub settled: SettledIndex,
    pub lookups: SettledLookups,
    pub ledger: Ledger,
}

impl Machine {
    pub fn from_parts(config: Arc<Config>, parts: Parts) -> Machine {
        let Parts {
            requests,
            spans,
            settled,
            lookups,
            ledger,
        } = parts;
        let mut m = Machine::from_requests(config, requests, ledger);
        m.spans = spans;
        m.settled = settled;
        m.lookups = lookups;
        m
    }

    /// A settled request's compact record (not one held in full). A
    /// request held in full has none, so asking about it reads no cold
    /// block.
    pub fn settled(&self, id: &str) -> Option<Settled> {
        if self.requests.contains_key(id) {
            return None;
        }
        self.settled.get(id)
    }

    pub fn settled_index(&self) -> &SettledIndex {
        &self.settled
    }

    /// For a checkpoint moving archived records to disk.
    pub fn settled_index_mut(&mut self) -> &mut SettledIndex {
        &mut self.settled
    }

    pub fn lookups(&self) -> &SettledLookups {
        &self.lookups
    }

    /// Where the first and last lines of a request held in full start.
    pub fn span(&self, id: &str) -> Option<(u64, u64)> {
        self.spans.get(id).copied()
    }

    /// Whether the journal knows the request, open or settled.
    pub fn knows(&self, id: &str) -> bool {
        self.requests.contains_key(id) || self.settled(id).is_some()
    }

    /// Its status's name, open or settled.
    pub fn status_name(&self, id: &str) -> Option<&'static str> {
        match self.requests.get(id) {
            Some(r) => Some(r.status.name()),
            None => self.settled(id).map(|s| s.kind.name()),
        }
    }

    /// When it was submitted, open or settled: a settled one's record
    /// keeps whole seconds, so the last instant of its second (a drop-in
    /// written in the second it was taken is that drop-in, not a new one).
    pub fn created(&self, id: &str) -> Option<jiff::Timestamp> {
        match self.requests.get(id) {
            Some(r) => Some(r.sub.created),
            None => (self.settled(id))
                .map(|s| s.created() + jiff::SignedDuration::from_nanos(999_999_999)),
        }
    }

    /// Where it came from, open or settled: `Some(true)` for the inbox.
    pub fn from_inbox(&self, id: &str) -> Option<bool> {
        match self.requests.get(id) {
            Some(r) => Some(r.sub.source == Source::Inbox),
            None => self
                .settled(id)
                .map(|s| s.has(crate::request::settled::flag::INBOX)),
        }
    }

    /// The settled request a drop-in file of this name and fingerprint
    /// became, if any.
    pub fn settled_drop_in(&self, file_name: &str, fingerprint: &str) -> Option<Id> {
        let id = self
            .lookups
            .drop_ins
            .get(&drop_in_hash(file_name, fingerprint))?;
        Some(format!("{id:012x}"))
    }

    /// The settled request a key names, and whether the requester,
    /// action and payload match it (else why not).
    pub(super) fn settled_key(
        &self,
        key: &str,
        requester: &str,
        action: &str,
        payload_sha256: &str,
    ) -> Option<(Id, Option<&'static str>)> {
        let o = self.lookups.keys.get(&hash64(&[key]))?;
        let id = format!("{:012x}", o.id);
        let why = if o.requester != hash64(&[requester]) {
            Some("another requester made")
        } else if o.action != hash64(&[action]) {
            Some("is for another action")
        } else if o.payload != hash64(&[payload_sha256]) {
            Some("has another payload")
        } else {
            None
        };
        Some((id, why))
    }

    /// Takes note of where the journal put `events` (`offsets`, one each).
    pub fn journaled(&mut self, events: &[Event], offsets: &[u64]) {
        for (ev, &at) in events.iter().zip(offsets) {
            if let Some(span) = self.spans.get_mut(&ev.request) {
                span.1 = at;
            } else if self.requests.contains_key(&ev.request) {
                self.spans.insert(ev.request.clone(), (at, at));
            }
        }
    }

    /// Drops the details of settled requests whose lines the journal
    /// holds, keeping their compact records; returns how many.
    pub fn compact(&mut self) -> usize {
        let done: Vec<Id> = self
            .requests
            .values()
            .filter(|r| r.status.is_final() && self.spans.contains_key(&r.id))
            .filter(|r| id_number(&r.id).is_some())
            .map(|r| r.id.clone())
            .collect();
        for id in &done {
            self.compact_one(id);
        }
        self.settled.merge();
        done.len()
    }

    /// Keeps only the compact record of `id` if it is settled and its
    /// lines are journaled (after its details were read back for a
    /// moment); whether it did.
    pub fn compact_one(&mut self, id: &str) -> bool {
        let (Some(r), Some(&(first, last))) = (self.requests.get(id), self.spans.get(id)) else {
            return false;
        };
        let Some(s) = Settled::of(r, first, last) else {
            return false;
        };
        let r = self.requests.remove(id).expect("found above");
        self.spans.remove(id);
        self.lookups.remember(&r);
        if let Some(key) = &r.sub.key {
            self.idem_keys.remove(key);
        }
        self.warnings.remove(id);
        self.settled.insert(s);
        true
    }

    /// Holds a settled request in full again, its details read back from
    /// the journal, so an input about it (a gesture on its note, a late
    /// notification, its filing) is decided on the whole request.
    pub fn restore(&mut self, r: Request) {
        let Some(s) = self.settled.remove(&r.id) else {
            return;
        };
        self.spans.insert(r.id.clone(), (s.first, s.last));
        if let Some(key) = &r.sub.key {
            self.idem_keys.insert(key.clone(), r.id.clone());
        }
        self.requests.insert(r.id.clone(), r);
    }
}
