//! Reading the journal: encoding and checking lines, walking the chain.
//!
//! The walk is streaming: `hitl audit verify` keeps only the last record,
//! so it checks a journal of any size in constant memory.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{JournalError, Record, TornTail};
use crate::payload::hex_sha256;
use crate::request::{Actor, Event, EventKind, Id};

pub(super) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// `,"hash":"` + 64 hex digits + `"}`
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

#[derive(Serialize)]
struct LineOut<'a> {
    seq: u64,
    time: jiff::Timestamp,
    request: &'a str,
    actor: &'a Actor,
    #[serde(flatten)]
    kind: &'a EventKind,
    prev: &'a str,
}

#[derive(Deserialize)]
struct LineIn {
    seq: u64,
    time: jiff::Timestamp,
    request: Id,
    actor: Actor,
    #[serde(flatten)]
    kind: EventKind,
    prev: String,
}

/// What a walk over the whole file found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// How many complete, chained events there are.
    pub events: u64,
    /// The last record's sequence number and hash: the journal's head, to
    /// compare with a copy kept elsewhere. `None` for an empty journal.
    pub head: Option<(u64, String)>,
    /// An incomplete last line (an append cut short), not part of the chain.
    pub torn: Option<TornTail>,
}

/// Reads every record without changing the file; a torn last line (perhaps
/// being written right now) is left out. For the CLI's read-only commands.
pub fn read(path: &Path) -> Result<Vec<Record>, JournalError> {
    let mut records = Vec::new();
    match File::open(path) {
        Ok(file) => {
            walk(path, file, |r| records.push(r))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(JournalError::Io {
                path: path.to_path_buf(),
                error,
            });
        }
    }
    Ok(records)
}

/// Checks the whole chain and reports its head and any torn last line.
/// A missing file is an empty journal.
pub fn verify(path: &Path) -> Result<Verified, JournalError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Verified {
                events: 0,
                head: None,
                torn: None,
            });
        }
        Err(error) => {
            return Err(JournalError::Io {
                path: path.to_path_buf(),
                error,
            });
        }
    };
    let mut last: Option<Record> = None;
    let walked = walk(path, file, |r| last = Some(r))?;
    Ok(Verified {
        events: last.as_ref().map_or(0, |r| r.seq),
        head: last.map(|r| (r.seq, r.hash)),
        torn: walked.torn.map(|(_, line, bytes)| TornTail { line, bytes }),
    })
}

pub(super) fn encode(seq: u64, prev: &str, ev: &Event) -> (String, String) {
    let out = LineOut {
        seq,
        time: ev.time,
        request: &ev.request,
        actor: &ev.actor,
        kind: &ev.kind,
        prev,
    };
    let body = serde_json::to_string(&out).expect("journal events always serialise");
    let hash = hex_sha256(body.as_bytes());
    let line = format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]);
    (line, hash)
}

pub(super) struct Walked {
    /// (byte offset where the torn line starts, its line number, its length)
    pub(super) torn: Option<(u64, u64, usize)>,
}

/// Walks the chain, handing each checked record to `visit`. Stops at a torn
/// last line; any other damage is an error naming the line.
pub(super) fn walk(
    path: &Path,
    input: impl Read,
    mut visit: impl FnMut(Record),
) -> Result<Walked, JournalError> {
    let io = |error| JournalError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let (mut offset, mut line_no) = (0u64, 0u64);
    let mut last: Option<(u64, String)> = None;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if n == 0 {
            return Ok(Walked { torn: None });
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') {
            return Ok(Walked {
                torn: Some((offset, line_no, n)),
            });
        }
        offset += n as u64;
        let damaged = |problem: String| JournalError::Damaged {
            path: path.to_path_buf(),
            line: line_no,
            problem,
        };
        let text = std::str::from_utf8(&buf[..n - 1]).map_err(|_| damaged("not UTF-8".into()))?;
        let prev = last.as_ref().map_or(GENESIS, |(_, h)| h.as_str());
        let want_seq = last.as_ref().map_or(1, |(s, _)| s + 1);
        let record = decode(text, prev, want_seq).map_err(damaged)?;
        last = Some((record.seq, record.hash.clone()));
        visit(record);
    }
}

/// Checks one line against the chain: its own hash, its sequence number and
/// the previous line's hash.
fn decode(text: &str, prev_hash: &str, want_seq: u64) -> Result<Record, String> {
    if text.len() < HASH_SUFFIX_LEN || !text.ends_with("\"}") {
        return Err("not a journal line (no hash at its end)".into());
    }
    let (body_head, suffix) = text.split_at(text.len() - HASH_SUFFIX_LEN);
    let hash = suffix
        .strip_prefix(",\"hash\":\"")
        .and_then(|s| s.strip_suffix("\"}"))
        .ok_or("not a journal line (no hash at its end)")?;
    let body = format!("{body_head}}}");
    if hex_sha256(body.as_bytes()) != hash {
        return Err("hash mismatch: the line was edited".into());
    }
    let line: LineIn = serde_json::from_str(&body).map_err(|e| format!("unreadable event: {e}"))?;
    if line.seq != want_seq {
        return Err(format!(
            "sequence number {} where {want_seq} was expected: a line was removed, added or moved",
            line.seq
        ));
    }
    if line.prev != prev_hash {
        return Err("previous-hash mismatch: the chain is broken here".into());
    }
    Ok(Record {
        seq: line.seq,
        hash: hash.to_string(),
        event: Event {
            time: line.time,
            request: line.request,
            actor: line.actor,
            kind: line.kind,
        },
    })
}
