//! The streaming replay: journal lines folded straight into the machine's
//! representation ([`Parts`]). A request submitted in the replayed lines
//! is tracked by its status alone (its submission's payload is skipped,
//! no History line is worded); when it settles it becomes a compact record
//! ([`Settled`]); only those still open at the end are read back in full
//! from their lines ([`Fold::finish`]), which makes their History.
//! Requests a checkpoint gave in full are folded with [`apply`].

use std::collections::HashMap;

use jiff::Timestamp;

use super::Ledger;
use super::brief::SubmittedLine;
use super::skeleton::{Read, read};
use super::store::Parts;
use crate::journal::{JournalError, Line};
use crate::request::lookup::{KeyOwner, drop_in_hash, hash64};
use crate::request::settled::{Kind, flag, id_number};
use crate::request::{
    ApplyError, Event, EventKind, Settled, Source, Status, apply, apply_owned, next,
};
use crate::rules::Risk;

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    /// A line that doesn't read as an event.
    #[error("{0}")]
    Line(String),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// A request submitted in the replayed lines, not settled yet.
struct Track {
    status: Status,
    first: u64,
    last: u64,
    created: Timestamp,
    /// Its last event that was not its note's filing.
    changed: Timestamp,
    flags: u8,
    risk: Risk,
    key: Option<(u64, KeyOwner)>,
    drop_in: Option<u64>,
}

/// The replay's state between lines.
#[derive(Default)]
pub struct Fold {
    parts: Parts,
    tracks: HashMap<String, Track>,
    pub last_event: Option<Timestamp>,
}

impl Fold {
    /// A fold that continues from a checkpoint's state.
    pub fn from_parts(parts: Parts) -> Fold {
        Fold {
            parts,
            tracks: HashMap::new(),
            last_event: None,
        }
    }

    /// Folds one checked journal line that starts at `offset`; a line
    /// that doesn't read is named by its number (its sequence number).
    pub fn take(&mut self, line: &Line, offset: u64) -> Result<(), FoldError> {
        self.take_line(line, offset).map_err(|e| match e {
            FoldError::Line(problem) => FoldError::Line(format!("line {}: {problem}", line.seq())),
            e => e,
        })
    }

    fn take_line(&mut self, line: &Line, offset: u64) -> Result<(), FoldError> {
        let text = line.text();
        match read(text, line.body()).map_err(FoldError::Line)? {
            Read::Submitted(sub) if id_number(&sub.request).is_some() => {
                self.last_event = Some(sub.time);
                return self.submitted(sub, offset);
            }
            // Only tracked and settled requests keep nothing of its texts.
            Read::Skeleton(ev)
                if self.tracks.contains_key(&ev.request)
                    || (!self.parts.requests.contains_key(&ev.request)
                        && self.parts.settled.get(&ev.request).is_some()) =>
            {
                return self.take_event(ev, offset);
            }
            _ => {}
        }
        let event = line.record().map_err(FoldError::Line)?.event;
        self.take_event(event, offset)
    }

    fn submitted(&mut self, sub: SubmittedLine, offset: u64) -> Result<(), FoldError> {
        let id = sub.request.as_ref();
        if self.knows(id) {
            return Err(ApplyError::Duplicate(id.to_string()).into());
        }
        let b = &sub.details;
        let mut flags = 0;
        if b.source == Source::Inbox {
            flags |= flag::INBOX;
        }
        let drop_in = b.drop_in_sha256.as_deref().map(|fp| {
            flags |= flag::DROP_IN;
            drop_in_hash(&b.file_name, fp)
        });
        let number = id_number(id).expect("checked by the caller");
        let key = b.key.as_deref().map(|k| {
            flags |= flag::KEYED;
            let owner = KeyOwner {
                id: number,
                requester: hash64(&[&b.requested_by]),
                action: hash64(&[&b.action]),
                payload: hash64(&[&b.payload_sha256]),
            };
            (hash64(&[k]), owner)
        });
        let track = Track {
            status: Status::Pending,
            first: offset,
            last: offset,
            created: b.created,
            changed: sub.time,
            flags,
            risk: b.risk,
            key,
            drop_in,
        };
        self.tracks.insert(id.to_string(), track);
        Ok(())
    }

    fn knows(&self, id: &str) -> bool {
        self.tracks.contains_key(id)
            || self.parts.requests.contains_key(id)
            || self.parts.settled.get(id).is_some()
    }

    /// Folds one parsed event that starts at `offset`.
    pub fn take_event(&mut self, ev: Event, offset: u64) -> Result<(), FoldError> {
        self.last_event = Some(ev.time);
        self.parts.ledger.absorb(&ev);
        if matches!(
            ev.kind,
            EventKind::JournalKeyed { .. } | EventKind::Anchored { .. }
        ) {
            return Ok(());
        }
        if let Some(t) = self.tracks.get_mut(&ev.request) {
            track(t, &ev, offset)?;
            if t.status.is_final() {
                let t = self.tracks.remove(&ev.request).expect("just found");
                self.settle_track(&ev.request, t);
            }
            return Ok(());
        }
        // Held in full, else settled (a cold one read only then).
        let held = self.parts.requests.contains_key(&ev.request);
        let settled = &mut self.parts.settled;
        if let Some(done) = (!held)
            .then(|| settled.update(&ev.request, |s| later(s, &ev, offset)))
            .flatten()
        {
            return done;
        }
        self.take_full(ev, offset)
    }

    /// An event of a request held in full (a checkpoint's open ones, and
    /// any whose id is not a generated one).
    fn take_full(&mut self, ev: Event, offset: u64) -> Result<(), FoldError> {
        let id = ev.request.clone();
        if matches!(ev.kind, EventKind::Submitted(_)) && self.knows(&id) {
            return Err(ApplyError::Duplicate(id).into());
        }
        apply_owned(&mut self.parts.requests, ev)?;
        let span = self
            .parts
            .spans
            .entry(id.clone())
            .or_insert((offset, offset));
        span.1 = offset;
        let (first, last) = *span;
        let r = &self.parts.requests[&id];
        if let Some(s) = Settled::of(r, first, last) {
            self.parts.lookups.remember(r);
            self.parts.settled.insert(s);
            self.parts.requests.remove(&id);
            self.parts.spans.remove(&id);
        }
        Ok(())
    }

    fn settle_track(&mut self, id: &str, t: Track) {
        let kind = Kind::of(&t.status).expect("final");
        let decided = match &t.status {
            Status::Cancelled { at, .. } => Some(*at),
            s => s.decision().map(|d| d.at),
        };
        let number = id_number(id).expect("tracked ids are generated ones");
        let s = Settled::new(number, t.first, t.last, kind, t.risk, t.flags)
            .at(t.created, decided, t.changed);
        if let Some((k, o)) = t.key {
            self.parts.lookups.keys.insert(k, o);
        }
        if let Some(h) = t.drop_in {
            self.parts.lookups.drop_ins.insert(h, number);
        }
        self.parts.settled.insert(s);
    }

    /// The state: the requests still open read back in full from their
    /// lines by `load(id, first, last)`.
    pub fn finish(
        mut self,
        mut load: impl FnMut(&str, u64, u64) -> Result<Vec<Event>, JournalError>,
    ) -> Result<Parts, FoldError> {
        for (id, t) in std::mem::take(&mut self.tracks) {
            let mut one = std::collections::BTreeMap::new();
            for ev in load(&id, t.first, t.last)? {
                apply(&mut one, &ev)?;
            }
            let r = one
                .remove(&id)
                .ok_or_else(|| ApplyError::UnknownRequest(id.clone()))?;
            self.parts.spans.insert(id.clone(), (t.first, t.last));
            self.parts.requests.insert(id, r);
        }
        self.parts.settled.merge();
        Ok(self.parts)
    }

    /// The trust ledger so far.
    pub fn ledger(&self) -> &Ledger {
        &self.parts.ledger
    }
}

/// One event of a tracked request: its status moves by [`next`], the
/// same table [`apply`] uses.
fn track(t: &mut Track, ev: &Event, offset: u64) -> Result<(), ApplyError> {
    if matches!(ev.kind, EventKind::Submitted(_)) {
        return Err(ApplyError::Duplicate(ev.request.clone()));
    }
    let record_only = ev.kind.is_record_only();
    if !record_only {
        t.status = next(&t.status, ev).map_err(|transition| ApplyError::BadTransition {
            id: ev.request.clone(),
            transition,
        })?;
    }
    if matches!(ev.kind, EventKind::NotifyFailed { .. }) {
        t.flags |= flag::UNDELIVERED;
    }
    t.flags &= !flag::LAST_RECORD_ONLY;
    if record_only {
        t.flags |= flag::LAST_RECORD_ONLY;
    }
    if !matches!(ev.kind, EventKind::Filed { .. }) {
        t.changed = ev.time;
    }
    t.last = offset;
    Ok(())
}

/// An event after a request settled: only notifications and its note's
/// filing may follow a final state (as [`next`] says).
fn later(s: &mut Settled, ev: &Event, offset: u64) -> Result<(), FoldError> {
    let filing = matches!(ev.kind, EventKind::Filed { .. });
    let record_only = ev.kind.is_record_only();
    if !filing && !record_only {
        let transition = crate::request::BadTransition {
            event: ev.kind.name(),
            status: s.kind.name(),
        };
        let id = ev.request.clone();
        return Err(ApplyError::BadTransition { id, transition }.into());
    }
    if matches!(ev.kind, EventKind::NotifyFailed { .. }) {
        s.flags |= flag::UNDELIVERED;
    }
    s.absorb(offset, ev.time, filing, record_only);
    Ok(())
}
