//! What the replay reads of a line when it doesn't need all of it
//! ([`super::fold`]):
//!
//! - an event's skeleton, for a request it only tracks: its name, time and
//!   the few details a transition depends on ([`crate::request::next`]:
//!   whether a handler runs, whether a revocation was a cancel, whether a
//!   resolved run executed); texts are skipped unread (a request still
//!   open at the end is read back whole);
//! - a `submitted` line's brief: the fields a compact record needs, the
//!   payload and texts skipped.
//!
//! Each is read first by the scanner over the canonical line
//! ([`super::scanner`]); where it isn't sure, by serde, which has the last
//! word (errors included).

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};

use super::scanner::{Cursor, once, timestamp};
use crate::request::{Actor, Event, EventKind, Gesture, RunResult, Source};
use crate::rules::Risk;

#[derive(Deserialize, Debug, PartialEq)]
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
#[derive(Default, Debug, PartialEq)]
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

/// The skeleton of `text`'s event by serde, for an event whose texts no
/// tracked request keeps; `None` for the kinds read in full.
fn skeleton(text: &str) -> Option<Result<Event, String>> {
    let line: Line = match serde_json::from_str(text) {
        Ok(l) => l,
        Err(e) => return Some(Err(format!("unreadable event: {e}"))),
    };
    let kind = kind_of(&line.event, &line.details)?;
    Some(Ok(Event {
        time: line.time,
        request: line.request.into_owned(),
        actor: Actor::Hitl,
        kind,
    }))
}

/// What the replay reads of a line.
pub enum Read<'a> {
    /// A `submitted` line's brief.
    Submitted(SubmittedLine<'a>),
    /// Another event's skeleton.
    Skeleton(Event),
    /// A kind read in full (those the trust ledger remembers, and any
    /// other).
    Full,
}

/// What the replay needs of a checked line's `text`: by the scanner in
/// one pass over its `body` ([`crate::journal::Line::body`]) where it is
/// sure, else by serde (whose errors are the answer).
pub fn read<'a>(text: &'a str, body: &'a str) -> Result<Read<'a>, String> {
    if let Some(fast) = fast(body) {
        return Ok(match fast.details {
            Details::Brief(details) => Read::Submitted(SubmittedLine {
                time: fast.time,
                request: Cow::Borrowed(fast.request),
                event: Cow::Borrowed(fast.event),
                details,
            }),
            Details::Flags(flags) => match kind_of(fast.event, &flags) {
                Some(kind) => Read::Skeleton(Event {
                    time: fast.time,
                    request: fast.request.to_string(),
                    actor: Actor::Hitl,
                    kind,
                }),
                None => Read::Full,
            },
        });
    }
    if is_submitted(text) {
        let sub: SubmittedLine = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if sub.event == "submitted" {
            return Ok(Read::Submitted(sub));
        }
    }
    Ok(match skeleton(text) {
        Some(ev) => Read::Skeleton(ev?),
        None => Read::Full,
    })
}

/// `"event":"submitted"`: the first `"event":"` of a line is its event's
/// name (the fields before it are a number, a time, an id and an actor,
/// whose strings escape their quotes).
fn is_submitted(text: &str) -> bool {
    text.find("\"event\":\"")
        .is_some_and(|i| text[i + 9..].starts_with("submitted\""))
}

/// A line as the scanner read it.
struct Fast<'a> {
    time: Timestamp,
    request: &'a str,
    event: &'a str,
    details: Details<'a>,
}

/// A `submitted` line's brief, or another event's flags.
enum Details<'a> {
    Brief(Brief<'a>),
    Flags(Flags),
}

/// The scanner's reading of a checked line's body (the line without its
/// `prev` and `hash` fields, which the chain check found at its end) in
/// one pass, its details read by its event's name (which the journal
/// writes before them); `None` where it isn't sure.
fn fast(body: &str) -> Option<Fast<'_>> {
    let (mut time, mut request, mut event, mut details) = (None, None, None, None);
    let mut cur = Cursor::new(body);
    cur.head_fields(|name, cur| match name {
        "time" => once(&mut time, cur.plain_string()),
        "request" => once(&mut request, cur.plain_string()),
        "event" => once(&mut event, cur.plain_string()),
        "details" if event? == "submitted" => {
            once(&mut details, fast_brief(cur).map(Details::Brief))
        }
        "details" => once(&mut details, fast_flags(cur).map(Details::Flags)),
        _ => cur.skip_value(),
    })?;
    if !cur.at_end() {
        return None;
    }
    let event = event?;
    let details = match details {
        Some(d) => d,
        // A submission without details is serde's to refuse.
        None if event == "submitted" => return None,
        None => Details::Flags(Flags::default()),
    };
    Some(Fast {
        time: timestamp(time?)?,
        request: request?,
        event,
        details,
    })
}

/// The scanner's [`Line`] (tests compare it with serde's).
#[cfg(test)]
fn fast_line(text: &str) -> Option<Line<'_>> {
    let f = fast(tests::body(text)?)?;
    let Details::Flags(details) = f.details else {
        return None;
    };
    Some(Line {
        time: f.time,
        request: Cow::Borrowed(f.request),
        event: Cow::Borrowed(f.event),
        details,
    })
}

/// The scanner's [`SubmittedLine`] (tests compare it with serde's).
#[cfg(test)]
fn fast_submitted(text: &str) -> Option<SubmittedLine<'_>> {
    let f = fast(tests::body(text)?)?;
    let Details::Brief(details) = f.details else {
        return None;
    };
    Some(SubmittedLine {
        time: f.time,
        request: Cow::Borrowed(f.request),
        event: Cow::Borrowed(f.event),
        details,
    })
}

/// The flags of a details value (`null` or a string: none set), as
/// [`FlagsVisitor`] reads them.
fn fast_flags(cur: &mut Cursor<'_>) -> Option<Flags> {
    let mut flags = Flags::default();
    if cur.null() {
        return Some(flags);
    }
    if cur.at_string() {
        cur.skip_value()?;
        return Some(flags);
    }
    if !cur.at_object() {
        return None;
    }
    cur.object(|name, cur| {
        match name {
            "runs_handler" => flags.runs_handler = cur.bool()?,
            "cancelled" => flags.cancelled = cur.bool()?,
            "executed" => flags.executed = cur.bool()?,
            _ => cur.skip_value()?,
        }
        Some(())
    })?;
    Some(flags)
}

/// A skeleton's kind, by its event's name; `None` for those read in full.
fn kind_of(event: &str, f: &Flags) -> Option<EventKind> {
    Some(match event {
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
    })
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

/// The fields of a `submitted` line a compact record needs; the payload
/// and the texts are skipped unread.
#[derive(Deserialize, Debug, PartialEq)]
pub struct SubmittedLine<'a> {
    pub time: Timestamp,
    #[serde(borrow)]
    pub request: Cow<'a, str>,
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    #[serde(borrow)]
    pub details: Brief<'a>,
}

#[derive(Deserialize, Debug, PartialEq)]
pub struct Brief<'a> {
    #[serde(borrow)]
    pub action: Cow<'a, str>,
    #[serde(borrow)]
    pub payload_sha256: Cow<'a, str>,
    #[serde(borrow)]
    pub requested_by: Cow<'a, str>,
    pub created: Timestamp,
    pub risk: Risk,
    #[serde(borrow)]
    pub file_name: Cow<'a, str>,
    pub source: Source,
    #[serde(borrow, default)]
    pub drop_in_sha256: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub key: Option<Cow<'a, str>>,
}

/// A [`Brief`] by the scanner: every field a plain string (or `null` for
/// the optional ones), each once.
fn fast_brief<'a>(cur: &mut Cursor<'a>) -> Option<Brief<'a>> {
    let (mut action, mut payload_sha256, mut requested_by) = (None, None, None);
    let (mut created, mut risk, mut file_name, mut source) = (None, None, None, None);
    let (mut drop_in, mut key) = (None, None);
    cur.object(|name, cur| match name {
        "action" => once(&mut action, cur.plain_string()),
        "payload_sha256" => once(&mut payload_sha256, cur.plain_string()),
        "requested_by" => once(&mut requested_by, cur.plain_string()),
        "created" => once(&mut created, cur.plain_string().and_then(timestamp)),
        "risk" => once(&mut risk, cur.plain_string().and_then(risk_of)),
        "file_name" => once(&mut file_name, cur.plain_string()),
        "source" => once(&mut source, cur.plain_string().and_then(source_of)),
        "drop_in_sha256" => once(&mut drop_in, optional(cur)),
        "key" => once(&mut key, optional(cur)),
        _ => cur.skip_value(),
    })?;
    Some(Brief {
        action: Cow::Borrowed(action?),
        payload_sha256: Cow::Borrowed(payload_sha256?),
        requested_by: Cow::Borrowed(requested_by?),
        created: created?,
        risk: risk?,
        file_name: Cow::Borrowed(file_name?),
        source: source?,
        drop_in_sha256: drop_in.flatten().map(Cow::Borrowed),
        key: key.flatten().map(Cow::Borrowed),
    })
}

/// An optional string: `Some(None)` for `null`.
fn optional<'a>(cur: &mut Cursor<'a>) -> Option<Option<&'a str>> {
    if cur.null() {
        Some(None)
    } else {
        cur.plain_string().map(Some)
    }
}

fn risk_of(s: &str) -> Option<Risk> {
    Some(match s {
        "low" => Risk::Low,
        "medium" => Risk::Medium,
        "high" => Risk::High,
        _ => return None,
    })
}

fn source_of(s: &str) -> Option<Source> {
    Some(match s {
        "cli" => Source::Cli,
        "inbox" => Source::Inbox,
        "drop-in" => Source::DropIn,
        _ => return None,
    })
}

#[cfg(test)]
#[path = "skeleton_tests.rs"]
mod tests;
