//! What the replay reads of a `submitted` line ([`super::skeleton::read`]):
//! the fields a compact record needs, by serde or by the scanner.

use std::borrow::Cow;

use jiff::Timestamp;
use serde::Deserialize;

use super::scanner::{Cursor, once, timestamp};
use crate::request::Source;
use crate::rules::Risk;

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
pub fn fast_brief<'a>(cur: &mut Cursor<'a>) -> Option<Brief<'a>> {
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
