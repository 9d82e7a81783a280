//! Reading the journal: encoding and checking lines, walking the chain.
//!
//! The walk is streaming: it holds one line at a time, so `hitl audit
//! verify` checks a journal of any size in constant memory. Checking the
//! chain needs no JSON parse (the sequence number opens each line, the
//! previous hash closes it, and the MAC covers both); only a replay parses
//! the events.

use std::fs::File;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::key::Chain;
use super::{JournalError, Record, TornTail};
use crate::request::{Actor, Event, EventKind};

pub(super) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// `,"hash":"` + 64 hex digits + `"}`
pub(super) const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;
/// `,"prev":"` + 64 hex digits + `"`, just before the hash suffix.
pub(super) const PREV_FIELD_LEN: usize = 9 + 64 + 1;

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

/// The fields around the event; the event itself is read from the same
/// line by [`EventKind`]'s own (adjacently tagged) reader, which skips
/// these, so nothing is buffered.
#[derive(Deserialize)]
struct Envelope<'a> {
    time: jiff::Timestamp,
    #[serde(borrow)]
    request: std::borrow::Cow<'a, str>,
    actor: Actor,
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
    /// Whether the lines are MACed with the journal key (`false`: a journal
    /// from before the key, checked with plain SHA-256).
    pub keyed: bool,
}

/// One checked line, borrowed from the walk's buffer.
pub struct Line<'a> {
    pub(super) seq: u64,
    /// Where the line starts, from where the walk began.
    pub(super) offset: u64,
    /// The whole line without its newline (valid JSON).
    pub(super) text: &'a str,
    pub(super) hash: &'a str,
}

impl Line<'_> {
    /// The whole line without its newline (valid JSON), checked.
    pub fn text(&self) -> &str {
        self.text
    }

    /// The line without its last two fields, `,"prev":"…","hash":"…"}`
    /// (64 hex digits each), which the chain check found at its end: what
    /// a reader of the event needs, without them.
    pub fn body(&self) -> &str {
        &self.text[..self.text.len() - HASH_SUFFIX_LEN - PREV_FIELD_LEN]
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn record(&self) -> Result<Record, String> {
        let env: Envelope =
            serde_json::from_str(self.text).map_err(|e| format!("unreadable event: {e}"))?;
        let kind: EventKind =
            serde_json::from_str(self.text).map_err(|e| format!("unreadable event: {e}"))?;
        Ok(Record {
            seq: self.seq,
            hash: self.hash.to_string(),
            event: Event {
                time: env.time,
                request: env.request.into_owned(),
                actor: env.actor,
                kind,
            },
        })
    }
}

/// Reads every record without changing the file; a torn last line (perhaps
/// being written right now) is left out. For the CLI's read-only commands.
pub fn read(path: &Path) -> Result<Vec<Record>, JournalError> {
    let mut records = Vec::new();
    for_each(path, |r| records.push(r))?;
    Ok(records)
}

/// Hands every record to `visit`, one at a time, without changing the file.
pub fn for_each(path: &Path, mut visit: impl FnMut(Record)) -> Result<(), JournalError> {
    for_each_line(path, None, |line, _| {
        visit(line.record()?);
        Ok(())
    })
}

/// [`for_each`] for the records after `from` (a checkpoint's head), once
/// its head line is found in place; without changing the file.
pub fn for_each_after(
    path: &Path,
    from: &super::Resume,
    mut visit: impl FnMut(Record),
) -> Result<(), JournalError> {
    for_each_line(path, Some(from), |line, _| {
        visit(line.record()?);
        Ok(())
    })
}

/// Hands each checked line after `from` (all for `None`) to `visit` with
/// the offset it starts at, without changing the file: a replay parses
/// only what it needs of each. An error from `visit` is damage at that line.
pub fn for_each_line(
    path: &Path,
    from: Option<&super::Resume>,
    mut visit: impl FnMut(&Line, u64) -> Result<(), String>,
) -> Result<(), JournalError> {
    use std::io::{Seek, SeekFrom};
    let io = |error| JournalError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut file = match (open_existing(path)?, from) {
        (Some(f), _) => f,
        (None, None) => return Ok(()),
        (None, Some(_)) => return Err(io(std::io::ErrorKind::NotFound.into())),
    };
    let chain = super::chain_for(path)?;
    let (base, prev, first) = match from {
        Some(r) => {
            check_head(path, &file, &chain, r)?;
            (r.end, r.hash.as_str(), r.seq + 1)
        }
        None => (0, GENESIS, 1),
    };
    file.seek(SeekFrom::Start(base)).map_err(io)?;
    walk(path, file, &chain, prev, first, |line| {
        visit(line, base + line.offset)
    })?;
    Ok(())
}

/// Checks the whole chain and reports its head and any torn last line.
/// A missing file is an empty journal.
pub fn verify(path: &Path) -> Result<Verified, JournalError> {
    let Some(file) = open_existing(path)? else {
        return Ok(Verified {
            events: 0,
            head: None,
            torn: None,
            keyed: super::key::load(&super::key::key_path(path))?.is_some(),
        });
    };
    let chain = super::chain_for(path)?;
    let walked = walk(path, file, &chain, GENESIS, 1, |_| Ok(()))?;
    Ok(Verified {
        events: walked.head.as_ref().map_or(0, |(seq, _)| *seq),
        head: walked.head,
        torn: walked.torn.map(|(_, line, bytes)| TornTail { line, bytes }),
        keyed: chain.is_keyed(),
    })
}

fn open_existing(path: &Path) -> Result<Option<File>, JournalError> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(JournalError::Io {
            path: path.to_path_buf(),
            error,
        }),
    }
}

pub(super) fn encode(chain: &Chain, seq: u64, prev: &str, ev: &Event) -> (String, String) {
    let out = LineOut {
        seq,
        time: ev.time,
        request: &ev.request,
        actor: &ev.actor,
        kind: &ev.kind,
        prev,
    };
    let mut line = serde_json::to_string(&out).expect("journal events always serialise");
    let hash = chain.hash(line.as_bytes());
    let hash = std::str::from_utf8(&hash)
        .expect("hex is ASCII")
        .to_string();
    line.pop(); // the closing brace, put back after the hash
    line.push_str(",\"hash\":\"");
    line.push_str(&hash);
    line.push_str("\"}");
    (line, hash)
}

pub(super) struct Walked {
    /// (byte offset where the torn line starts, its line number, its length)
    pub(super) torn: Option<(u64, u64, usize)>,
    /// The last complete line's sequence number and hash.
    pub(super) head: Option<(u64, String)>,
    /// Where the complete lines end.
    pub(super) end: u64,
    /// Where the last complete line starts.
    pub(super) head_offset: u64,
}

/// Walks the chain (reading and checking on a thread of its own).
pub(super) use super::pipe::walk;

/// Checks one line against the chain: its own hash, its sequence number
/// and the previous line's hash.
pub(super) fn check<'a>(
    chain: &Chain,
    text: &'a str,
    prev_hash: &str,
    want_seq: u64,
) -> Result<Line<'a>, String> {
    let line = Line::checked_alone(chain, text)?;
    if line.seq != want_seq {
        return Err(format!(
            "sequence number {} where {want_seq} was expected: a line was removed, added or moved",
            line.seq
        ));
    }
    let body_head = &text[..text.len() - HASH_SUFFIX_LEN];
    let prev = body_head[body_head.len() - PREV_FIELD_LEN..]
        .strip_prefix(",\"prev\":\"")
        .and_then(|s| s.strip_suffix('"'))
        .ok_or("no previous hash before the line's own")?;
    if prev != prev_hash {
        return Err("previous-hash mismatch: the chain is broken here".into());
    }
    Ok(line)
}

impl<'a> Line<'a> {
    /// One line checked by its own MAC and shape, not its place in the
    /// chain (for a line read back by offset).
    pub(super) fn checked_alone(chain: &Chain, text: &'a str) -> Result<Line<'a>, String> {
        let not_a_line = || "not a journal line (no hash at its end)".to_string();
        if text.len() < HASH_SUFFIX_LEN + PREV_FIELD_LEN || !text.ends_with("\"}") {
            return Err(not_a_line());
        }
        // Not yet checked: the cut may fall inside a character.
        let (body_head, suffix) = text
            .split_at_checked(text.len() - HASH_SUFFIX_LEN)
            .ok_or_else(not_a_line)?;
        let hash = suffix
            .strip_prefix(",\"hash\":\"")
            .and_then(|s| s.strip_suffix("\"}"))
            .ok_or_else(not_a_line)?;
        if chain.hash_parts(body_head.as_bytes(), b"}") != hash.as_bytes() {
            return Err(match chain {
                Chain::Keyed(_) => {
                    "MAC mismatch: the line was edited, or written without the journal key"
                }
                Chain::Legacy => "hash mismatch: the line was edited",
            }
            .into());
        }
        let seq = text
            .strip_prefix("{\"seq\":")
            .and_then(|s| s.split_once(','))
            .and_then(|(n, _)| n.parse::<u64>().ok())
            .ok_or("no sequence number at the line's start")?;
        Ok(Line {
            seq,
            offset: 0,
            text,
            hash,
        })
    }
}

/// Checks that the line `r` names is in place: it starts at `head_offset`,
/// ends at `end` and checks under `chain` with `r`'s sequence number and
/// hash. Its own previous hash is taken from the line; the lines before it
/// were checked when the checkpoint was made, and the head's MAC covers it.
pub(super) fn check_head(
    path: &Path,
    file: &File,
    chain: &Chain,
    r: &super::Resume,
) -> Result<(), JournalError> {
    use std::os::unix::fs::FileExt;
    let mismatch = |problem: &str| JournalError::Damaged {
        path: path.to_path_buf(),
        line: r.seq,
        problem: format!("not the line the checkpoint names: {problem}"),
    };
    let len = r
        .end
        .checked_sub(r.head_offset)
        .filter(|n| (1..=64 << 20).contains(n))
        .ok_or_else(|| mismatch("bad offsets"))?;
    let mut buf = vec![0u8; usize::try_from(len).map_err(|_| mismatch("bad offsets"))?];
    file.read_exact_at(&mut buf, r.head_offset)
        .map_err(|_| mismatch("the journal is shorter"))?;
    let text = buf
        .strip_suffix(b"\n")
        .and_then(|t| std::str::from_utf8(t).ok())
        .filter(|t| !t.contains('\n'))
        .ok_or_else(|| mismatch("not one line"))?;
    let prev = text
        .len()
        .checked_sub(HASH_SUFFIX_LEN + 65)
        .and_then(|i| text.get(i..i + 64))
        .ok_or_else(|| mismatch("not a journal line"))?;
    let line = check(chain, text, prev, r.seq).map_err(|p| mismatch(&p))?;
    if line.hash != r.hash {
        return Err(mismatch("another hash"));
    }
    Ok(())
}
