//! The journal: `journal.jsonl` in the state folder, the source of truth.
//!
//! One JSON event per line: sequence number, UTC time, request id, actor,
//! event, details, the hash of the previous line and the line's own hash.
//! The own hash is the SHA-256 of the line's text up to the hash field, so
//! verification works on the exact bytes written, without re-serialising.
//! Appends are fsynced before the caller acts on them.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::payload::hex_sha256;
use crate::request::{Event, EventKind, Id};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// `,"hash":"` + 64 hex digits + `"}`
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("journal {path}, line {line}: {problem}")]
    Damaged {
        path: PathBuf,
        line: u64,
        problem: String,
    },
}

#[derive(Serialize)]
struct LineOut<'a> {
    seq: u64,
    time: Timestamp,
    request: &'a str,
    actor: &'a str,
    #[serde(flatten)]
    kind: &'a EventKind,
    prev: &'a str,
}

#[derive(Deserialize)]
struct LineIn {
    seq: u64,
    time: Timestamp,
    request: Id,
    actor: String,
    #[serde(flatten)]
    kind: EventKind,
    prev: String,
}

/// A journaled event with its place in the chain.
#[derive(Debug, Clone)]
pub struct Record {
    pub seq: u64,
    pub hash: String,
    pub event: Event,
}

/// A torn last line that was cut off at open.
#[derive(Debug, Clone, PartialEq)]
pub struct TornTail {
    pub line: u64,
    pub bytes: usize,
}

/// The journal, open for appending.
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
    last_hash: String,
}

impl Journal {
    /// Opens (or creates) the journal, returning it with every record in it.
    /// A torn last line is cut off and returned; any other damage is an error.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Record>, Option<TornTail>), JournalError> {
        let io = |error| JournalError::Io {
            path: path.to_path_buf(),
            error,
        };
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let scan = scan(path, &file)?;
        let mut torn = None;
        if let Some((offset, line, bytes)) = scan.torn {
            file.set_len(offset).map_err(io)?;
            file.sync_all().map_err(io)?;
            torn = Some(TornTail { line, bytes });
        }
        let journal = Journal {
            path: path.to_path_buf(),
            file,
            next_seq: scan.records.last().map_or(1, |r| r.seq + 1),
            last_hash: scan
                .records
                .last()
                .map_or(GENESIS.to_string(), |r| r.hash.clone()),
        };
        Ok((journal, scan.records, torn))
    }

    /// Appends events as consecutive lines and fsyncs once.
    pub fn append(&mut self, events: &[Event]) -> Result<(), JournalError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut buf = String::new();
        let (mut seq, mut prev) = (self.next_seq, self.last_hash.clone());
        for ev in events {
            let (line, hash) = encode(seq, &prev, ev);
            buf.push_str(&line);
            buf.push('\n');
            seq += 1;
            prev = hash;
        }
        let io = |error| JournalError::Io {
            path: self.path.clone(),
            error,
        };
        self.file.write_all(buf.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.next_seq = seq;
        self.last_hash = prev;
        Ok(())
    }
}

/// Reads every record without changing the file; a torn last line (perhaps
/// being written right now) is left out. For the CLI's read-only commands.
pub fn read(path: &Path) -> Result<Vec<Record>, JournalError> {
    match File::open(path) {
        Ok(file) => Ok(scan(path, &file)?.records),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(JournalError::Io {
            path: path.to_path_buf(),
            error,
        }),
    }
}

fn encode(seq: u64, prev: &str, ev: &Event) -> (String, String) {
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

struct Scan {
    records: Vec<Record>,
    /// (byte offset where the torn line starts, its line number, its length)
    torn: Option<(u64, u64, usize)>,
}

fn scan(path: &Path, file: &File) -> Result<Scan, JournalError> {
    let io = |error| JournalError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut reader = BufReader::new(file);
    let (mut records, mut offset, mut line_no) = (Vec::<Record>::new(), 0u64, 0u64);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if n == 0 {
            return Ok(Scan {
                records,
                torn: None,
            });
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') {
            return Ok(Scan {
                records,
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
        let prev = records.last().map_or(GENESIS, |r: &Record| r.hash.as_str());
        let record = decode(text, prev, records.len() as u64 + 1).map_err(damaged)?;
        records.push(record);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, kind: EventKind) -> Event {
        Event {
            time: Timestamp::UNIX_EPOCH,
            request: id.into(),
            actor: "test".into(),
            kind,
        }
    }

    fn sample(dir: &Path) -> PathBuf {
        let path = dir.join("journal.jsonl");
        let (mut j, records, torn) = Journal::open(&path).unwrap();
        assert!(records.is_empty() && torn.is_none());
        j.append(&[ev("a", EventKind::Expired), ev("b", EventKind::Cancelled)])
            .unwrap();
        j.append(&[ev(
            "c",
            EventKind::Unknown {
                why: "crash".into(),
            },
        )])
        .unwrap();
        path
    }

    #[test]
    fn round_trip_and_continue_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let (mut j, records, _) = Journal::open(&path).unwrap();
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(
            records[2].event.kind,
            EventKind::Unknown {
                why: "crash".into()
            }
        );
        j.append(&[ev("d", EventKind::Expired)]).unwrap();
        assert_eq!(read(&path).unwrap().len(), 4);
    }

    #[test]
    fn torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 20]).unwrap();
        let (_, records, torn) = Journal::open(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(torn.map(|t| t.line), Some(3));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n') && text.lines().count() == 2);
    }

    fn damage(path: &Path, f: impl Fn(&mut Vec<String>)) -> JournalError {
        let mut lines: Vec<String> = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        f(&mut lines);
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
        read(path).unwrap_err()
    }

    #[test]
    fn edits_removals_and_swaps_name_the_line() {
        type Damage = fn(&mut Vec<String>);
        let cases: [(&str, Damage, u64); 3] = [
            ("edit", |l| l[1] = l[1].replace("cancelled", "expired"), 2),
            (
                "remove",
                |l| {
                    l.remove(1);
                },
                2,
            ),
            ("swap", |l| l.swap(0, 1), 1),
        ];
        for (what, f, line) in cases {
            let dir = tempfile::tempdir().unwrap();
            let path = sample(dir.path());
            match damage(&path, f) {
                JournalError::Damaged { line: l, .. } => assert_eq!(l, line, "{what}"),
                other => panic!("{what}: {other}"),
            }
        }
    }
}
