//! An event's skeleton for the replay of a request it only tracks
//! ([`super::fold`]): its name, time and the few details a transition
//! depends on ([`crate::request::next`]: whether a handler runs, whether a
//! revocation was a cancel, whether a resolved run executed). Texts are
//! skipped unread; a request still open at the end is read back whole.

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};

use crate::request::{Actor, Event, EventKind, Gesture, RunResult};

#[derive(Deserialize)]
struct Line<'a> {
    time: Timestamp,
    #[serde(borrow)]
    request: Cow<'a, str>,
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default)]
    details: Flags,
}

/// The booleans of an event's details that steer a transition.
#[derive(Default)]
struct Flags {
    runs_handler: bool,
    cancelled: bool,
    executed: bool,
}

impl<'de> Deserialize<'de> for Flags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Flags, D::Error> {
        d.deserialize_any(FlagsVisitor)
    }
}

struct FlagsVisitor;

impl<'de> Visitor<'de> for FlagsVisitor {
    type Value = Flags;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event's details")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Flags, A::Error> {
        let mut flags = Flags::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "runs_handler" => flags.runs_handler = map.next_value()?,
                "cancelled" => flags.cancelled = map.next_value()?,
                "executed" => flags.executed = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(flags)
    }

    fn visit_str<E>(self, _: &str) -> Result<Flags, E> {
        Ok(Flags::default())
    }

    fn visit_unit<E>(self) -> Result<Flags, E> {
        Ok(Flags::default())
    }

    fn visit_none<E>(self) -> Result<Flags, E> {
        Ok(Flags::default())
    }
}

/// The skeleton of `text`'s event, for an event whose texts no tracked
/// request keeps; `None` for the kinds read in full (those the trust
/// ledger remembers, and any other).
pub fn skeleton(text: &str) -> Option<Result<Event, String>> {
    let line: Line = match serde_json::from_str(text) {
        Ok(l) => l,
        Err(e) => return Some(Err(format!("unreadable event: {e}"))),
    };
    let f = &line.details;
    let kind = match line.event.as_ref() {
        "approved" => EventKind::Approved {
            reason: None,
            gesture: Gesture::Rule,
            runs_handler: f.runs_handler,
        },
        "rejected" => EventKind::Rejected {
            reason: None,
            gesture: Gesture::Rule,
        },
        "expired" => EventKind::Expired,
        "cancelled" => EventKind::Cancelled(None),
        "tampered" => EventKind::Tampered {
            found_sha256: None,
            changed: Vec::new(),
        },
        "executing" => EventKind::Executing {
            command: Vec::new(),
        },
        "executed" => EventKind::Executed(no_run()),
        "failed" => EventKind::Failed(no_run()),
        "unknown" => EventKind::Unknown { why: String::new() },
        "resolved" => EventKind::Resolved {
            executed: f.executed,
            reason: String::new(),
        },
        "revoked" => EventKind::Revoked {
            reason: None,
            gesture: Gesture::Rule,
            cancelled: f.cancelled,
        },
        "filed" => EventKind::Filed {
            folder: String::new(),
        },
        "reminded" => EventKind::Reminded,
        "notified" => EventKind::Notified {
            channel: String::new(),
            event: String::new(),
            attempts: 0,
        },
        "notify_failed" => EventKind::NotifyFailed {
            channel: String::new(),
            event: String::new(),
            attempts: 0,
            error: String::new(),
        },
        _ => return None,
    };
    Some(Ok(Event {
        time: line.time,
        request: line.request.into_owned(),
        actor: Actor::Hitl,
        kind,
    }))
}

fn no_run() -> RunResult {
    RunResult {
        exit_code: None,
        duration_ms: 0,
        output: String::new(),
        truncated: false,
        error: None,
    }
}
