//! Settled requests as compact records: a final request never changes
//! again (but for notification lines and its filing), so the engine keeps
//! of it only what the dashboard counts and what finds its details in the
//! journal ([`Settled::first`], [`Settled::last`]); the rest is read back
//! from there on demand ([`crate::journal::request_events`]).
//!
//! A record is 40 bytes, in memory and in a checkpoint's binary section
//! ([`Settled::to_bytes`]); the index is a vector sorted by id, plus a small
//! ordered map for the requests settled since it was last merged (ids are
//! random, so inserting into the vector would move half of it each time),
//! and the archived ones on disk ([`SettledIndex`], `settled_index.rs`).

use jiff::Timestamp;

use super::{Request, Source, Status};
use crate::rules::Risk;

/// How a settled request ended: the final [`Status`]es, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Approved = 1,
    Executed = 2,
    Failed = 3,
    Rejected = 4,
    Expired = 5,
    Cancelled = 6,
    Tampered = 7,
}

impl Kind {
    pub fn of(status: &Status) -> Option<Kind> {
        Some(match status {
            Status::Approved { .. } => Kind::Approved,
            Status::Executed(_) => Kind::Executed,
            Status::Failed(_) => Kind::Failed,
            Status::Rejected { .. } => Kind::Rejected,
            Status::Expired => Kind::Expired,
            Status::Cancelled { .. } => Kind::Cancelled,
            Status::Tampered => Kind::Tampered,
            Status::Pending
            | Status::ApprovedToRun { .. }
            | Status::Executing { .. }
            | Status::Unknown { .. } => return None,
        })
    }

    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Approved,
            2 => Kind::Executed,
            3 => Kind::Failed,
            4 => Kind::Rejected,
            5 => Kind::Expired,
            6 => Kind::Cancelled,
            7 => Kind::Tampered,
            _ => return None,
        })
    }

    /// The status's name, as [`Status::name`] says it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Approved => "approved",
            Kind::Executed => "executed",
            Kind::Failed => "failed",
            Kind::Rejected => "rejected",
            Kind::Expired => "expired",
            Kind::Cancelled => "cancelled",
            Kind::Tampered => "tampered",
        }
    }

    /// `hitl wait`'s exit code, as [`Status::exit_code`] says it.
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Approved | Kind::Executed => 0,
            Kind::Rejected => 3,
            Kind::Expired => 4,
            Kind::Failed => 5,
            Kind::Cancelled | Kind::Tampered => 6,
        }
    }

    /// Whether a person (or rule) decided it: approved or rejected.
    pub fn decided(self) -> Option<bool> {
        match self {
            Kind::Approved | Kind::Executed | Kind::Failed => Some(true),
            Kind::Rejected => Some(false),
            Kind::Expired | Kind::Cancelled | Kind::Tampered => None,
        }
    }
}

/// Bits of [`Settled::flags`].
pub mod flag {
    /// A notification about it was given up on (`notify_failed`).
    pub const UNDELIVERED: u8 = 1;
    /// Its last event is record-only (a notification).
    pub const LAST_RECORD_ONLY: u8 = 2;
    /// It came from the state folder's inbox.
    pub const INBOX: u8 = 4;
    /// It was a drop-in note.
    pub const DROP_IN: u8 = 8;
    /// Its requester gave an idempotency key.
    pub const KEYED: u8 = 16;
}

/// One settled request: 40 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Its id's 12 hex digits as a number ([`id_number`]).
    pub id: u64,
    /// Where its `submitted` line starts in the journal.
    pub first: u64,
    /// Where its last line starts in the journal.
    pub last: u64,
    /// Unix seconds: when it was submitted.
    pub created: u32,
    /// Unix seconds: when it was decided or withdrawn; 0 if never.
    pub decided: u32,
    /// Unix seconds: its last event that was not its note's filing.
    pub changed: u32,
    pub kind: Kind,
    pub flags: u8,
    pub risk: Risk,
}

/// Bytes of one record in a checkpoint.
pub const RECORD_BYTES: usize = 40;

impl Settled {
    /// The compact record of a final request whose lines are at `first`
    /// and `last`; `None` for an open one, or an id [`id_number`] can't hold.
    pub fn of(r: &Request, first: u64, last: u64) -> Option<Settled> {
        let kind = Kind::of(&r.status)?;
        let decided = match &r.status {
            Status::Cancelled { at, .. } => Some(*at),
            s => s.decision().map(|d| d.at),
        };
        let mut flags = 0;
        let set = |on: bool, bit: u8| if on { bit } else { 0 };
        flags |= set(!r.undelivered.is_empty(), flag::UNDELIVERED);
        flags |= set(r.last_record_only, flag::LAST_RECORD_ONLY);
        flags |= set(r.sub.source == Source::Inbox, flag::INBOX);
        flags |= set(r.sub.drop_in_sha256.is_some(), flag::DROP_IN);
        flags |= set(r.sub.key.is_some(), flag::KEYED);
        let s = Settled::new(id_number(&r.id)?, first, last, kind, r.sub.risk, flags);
        Some(s.at(r.sub.created, decided, r.settled_at()))
    }

    /// A record with no times yet ([`Settled::at`] sets them).
    pub fn new(id: u64, first: u64, last: u64, kind: Kind, risk: Risk, flags: u8) -> Settled {
        Settled {
            id,
            first,
            last,
            created: 0,
            decided: 0,
            changed: 0,
            kind,
            flags,
            risk,
        }
    }

    /// The record with its times: submitted, decided (or withdrawn), and
    /// its last change.
    pub fn at(self, created: Timestamp, decided: Option<Timestamp>, changed: Timestamp) -> Settled {
        Settled {
            created: secs(created),
            decided: decided.map_or(0, secs),
            changed: secs(changed),
            ..self
        }
    }

    pub fn id(&self) -> String {
        format!("{:012x}", self.id)
    }

    pub fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    pub fn created(&self) -> Timestamp {
        time(self.created)
    }

    pub fn decided(&self) -> Option<Timestamp> {
        (self.decided != 0).then(|| time(self.decided))
    }

    /// When it reached its current state, as [`Request::settled_at`] says.
    pub fn changed(&self) -> Timestamp {
        time(self.changed)
    }

    /// Whether it settled longer than `kept` before `now` (`kept` zero:
    /// never): its Done note is then an archived copy the daemon no
    /// longer tracks (`done_notes_kept`, docs/journal.md).
    pub fn archived(&self, now: Timestamp, kept: std::time::Duration) -> bool {
        archived_at(self.changed(), now, kept)
    }

    /// A later event about it (a notification, its filing) at `offset`.
    pub fn absorb(&mut self, offset: u64, at: Timestamp, filing: bool, record_only: bool) {
        self.last = self.last.max(offset);
        if !filing {
            self.changed = secs(at);
        }
        self.flags &= !flag::LAST_RECORD_ONLY;
        if record_only {
            self.flags |= flag::LAST_RECORD_ONLY;
        }
    }

    pub fn to_bytes(&self) -> [u8; RECORD_BYTES] {
        let mut b = [0u8; RECORD_BYTES];
        b[0..8].copy_from_slice(&self.id.to_le_bytes());
        b[8..16].copy_from_slice(&self.first.to_le_bytes());
        b[16..24].copy_from_slice(&self.last.to_le_bytes());
        b[24..28].copy_from_slice(&self.created.to_le_bytes());
        b[28..32].copy_from_slice(&self.decided.to_le_bytes());
        b[32..36].copy_from_slice(&self.changed.to_le_bytes());
        b[36] = self.kind as u8;
        b[37] = self.flags;
        b[38] = self.risk as u8;
        b
    }

    /// The record [`Settled::to_bytes`] wrote; `None` if `b` isn't one.
    pub fn from_bytes(b: &[u8]) -> Option<Settled> {
        let b: &[u8; RECORD_BYTES] = b.try_into().ok()?;
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let risk = match b[38] {
            0 => Risk::Low,
            1 => Risk::Medium,
            2 => Risk::High,
            _ => return None,
        };
        let s = Settled {
            id: u64_at(0),
            first: u64_at(8),
            last: u64_at(16),
            created: u32_at(24),
            decided: u32_at(28),
            changed: u32_at(32),
            kind: Kind::from_u8(b[36])?,
            flags: b[37],
            risk,
        };
        (s.first <= s.last && s.id < 1 << 48 && b[39] == 0).then_some(s)
    }
}

/// A generated id ([`super::is_id`]) as a number; `None` for any other.
pub fn id_number(id: &str) -> Option<u64> {
    if !super::is_id(id) {
        return None;
    }
    u64::from_str_radix(id, 16).ok()
}

/// Whether a request settled at `settled` is archived at `now` under a
/// retention of `kept` (zero: nothing is).
pub fn archived_at(settled: Timestamp, now: Timestamp, kept: std::time::Duration) -> bool {
    let kept = i64::try_from(kept.as_secs()).unwrap_or(i64::MAX);
    kept > 0 && settled.as_second().saturating_add(kept) < now.as_second()
}

fn secs(t: Timestamp) -> u32 {
    u32::try_from(t.as_second()).unwrap_or(if t.as_second() < 0 { 0 } else { u32::MAX })
}

fn time(secs: u32) -> Timestamp {
    Timestamp::from_second(i64::from(secs)).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub use super::settled_index::SettledIndex;

#[cfg(test)]
#[path = "settled_tests.rs"]
mod tests;
