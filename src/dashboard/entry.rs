//! What the page shows of one request ([`Entry`]) and of one notification
//! that could not be delivered ([`NotifyFailure`]): small copies, so the
//! daemon's dashboard keeps one per request (100,000 of them) apart from
//! the engine's state, and the engine hands over only those that changed.
//!
//! An entry is kept compact (docs/perf-memory.md): texts as exact-size
//! `Box<str>` (empty ones allocate nothing). The decision stays inline:
//! the entries made from settled records for each render then allocate
//! nothing of their own.

use jiff::Timestamp;

use crate::request::{Decision, Id, Kind, Request, Settled, Status};
use crate::rules::Risk;

/// One request as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: Box<str>,
    /// The note's unique file name without `.md`: the wikilink's target.
    pub stem: Box<str>,
    pub action: Box<str>,
    /// Kept only while the page lists it (open, or needing a look).
    pub summary: Box<str>,
    pub risk: Risk,
    /// Kept only while the request is open.
    pub requested_by: Box<str>,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub status: &'static str,
    /// Failed, unknown or tampered: listed under "Needs a look".
    pub needs_look: bool,
    pub decision: Option<Decision>,
    /// Who withdrew it, when, and why (a cancelled request).
    pub cancelled: Option<Decision>,
    /// When it reached its current state (its last journal event).
    pub settled_at: Timestamp,
    /// Its last History line, kept only while it needs a look.
    pub last_line: Box<str>,
    /// Made from a settled request's compact record: no note name,
    /// action, who decided or why, until the page shows it and reads
    /// those from the journal ([`crate::dashboard::Writer::spawn`]).
    pub brief: bool,
}

/// The file name the daemon gives the request's note, without `.md` (a
/// drop-in named with link syntax is renamed: see [`crate::vault::note_name`]).
fn note_stem(r: &Request) -> String {
    let mut name = crate::vault::note_name(&r.sub.file_name, &r.id, false);
    if name.ends_with(".md") {
        name.truncate(name.len() - 3);
    }
    name
}

impl From<&Request> for Entry {
    fn from(r: &Request) -> Entry {
        let open = matches!(r.status, Status::Pending);
        let needs_look = matches!(
            r.status,
            Status::Failed(_) | Status::Unknown { .. } | Status::Tampered
        );
        let listed = |text: &str| -> Box<str> {
            if open || needs_look {
                text.into()
            } else {
                Box::default()
            }
        };
        let cancelled = match &r.status {
            Status::Cancelled { by, at, reason } => Some(Decision {
                approved: false,
                by: by.clone(),
                at: *at,
                reason: reason.clone(),
            }),
            _ => None,
        };
        let last = r
            .history
            .iter()
            .rev()
            .find(|(_, l)| !crate::note::history::is_filing(l));
        Entry {
            id: r.id.as_str().into(),
            stem: note_stem(r).into_boxed_str(),
            action: r.sub.action.as_str().into(),
            summary: listed(&r.sub.summary),
            risk: r.sub.risk,
            requested_by: if open {
                r.sub.requested_by.as_str().into()
            } else {
                Box::default()
            },
            created: r.sub.created,
            expires: r.sub.expires,
            status: r.status.name(),
            needs_look,
            decision: r.decision().cloned(),
            cancelled,
            settled_at: r.settled_at(),
            last_line: if needs_look {
                last.map(|(_, l)| l.as_str().into()).unwrap_or_default()
            } else {
                Box::default()
            },
            brief: false,
        }
    }
}

impl Entry {
    /// What the counts and charts need of a settled request, from its
    /// compact record; the rest is read when the page lists it.
    pub fn from_settled(s: &Settled) -> Entry {
        let at = s.decided().unwrap_or_else(|| s.changed());
        let decision = s.kind.decided().map(|approved| Decision {
            approved,
            by: String::new(),
            at,
            reason: None,
        });
        let cancelled = (s.kind == Kind::Cancelled).then(|| Decision {
            approved: false,
            by: String::new(),
            at,
            reason: None,
        });
        Entry {
            id: s.id().into_boxed_str(),
            stem: Box::default(),
            action: Box::default(),
            summary: Box::default(),
            risk: s.risk,
            requested_by: Box::default(),
            created: s.created(),
            expires: s.created(),
            status: s.kind.name(),
            needs_look: matches!(s.kind, Kind::Failed | Kind::Tampered),
            decision,
            cancelled,
            settled_at: s.changed(),
            last_line: Box::default(),
            brief: true,
        }
    }
}

/// A notification given up on after its retries: the shape of the
/// journal's `notify_failed` event {channel, event, attempts, error}, with
/// the request it was about and when.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyFailure {
    pub request: Id,
    /// The request's note (its wikilink's target), if the page knows it.
    pub stem: Option<String>,
    pub at: Timestamp,
    pub channel: String,
    pub event: String,
    pub attempts: u32,
    pub error: String,
}

impl NotifyFailure {
    /// The failure a journaled `notify_failed` event records, if `ev` is
    /// one; `stem` is the request's note, when known.
    pub fn from_event(ev: &crate::request::Event, stem: Option<String>) -> Option<NotifyFailure> {
        let crate::request::EventKind::NotifyFailed {
            channel,
            event,
            attempts,
            error,
        } = &ev.kind
        else {
            return None;
        };
        Some(NotifyFailure {
            request: ev.request.clone(),
            stem,
            at: ev.time,
            channel: channel.clone(),
            event: event.clone(),
            attempts: *attempts,
            error: error.clone(),
        })
    }
}

/// The undelivered notifications of every request the machine holds in
/// full.
pub fn failures(machine: &crate::machine::Machine) -> Vec<NotifyFailure> {
    machine.requests().values().flat_map(failures_of).collect()
}

/// The undelivered notifications of one request.
pub fn failures_of(r: &Request) -> Vec<NotifyFailure> {
    let stem = note_stem(r);
    r.undelivered
        .iter()
        .map(|u| NotifyFailure {
            request: r.id.clone(),
            stem: Some(stem.clone()),
            at: u.at,
            channel: u.channel.clone(),
            event: u.event.clone(),
            attempts: u.attempts,
            error: u.error.clone(),
        })
        .collect()
}
