//! The journal: `journal.jsonl` in the state folder, the source of truth.
//!
//! One JSON event per line: sequence number, UTC time, request id, actor,
//! event, details, the hash of the previous line and the line's own hash.
//! The own hash is the HMAC-SHA256, under the journal key (`key.rs`), of
//! the line's text up to the hash field, so verification works on the exact
//! bytes written, without re-serialising. A journal from before the key
//! (plain SHA-256) is still read, and upgraded once by the daemon
//! (`upgrade.rs`).
//! Appends are fsynced before the caller acts on them.
//!
//! An append that fails (disk full, read-only, I/O error) is cut back off
//! the file, so the file always ends with the last fsynced event; and an
//! append first checks that the file it has open is still the one at the
//! journal's path, so a journal moved or replaced while hitl runs is noticed
//! instead of written to unseen.

pub mod key;
mod lines;
mod pipe;
mod scan;
mod upgrade;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::request::Event;

use key::Chain;
pub use lines::{Reader, request_events};
use scan::{GENESIS, encode, walk};
pub use scan::{Line, Verified, for_each, for_each_after, for_each_line, read, verify};
pub use upgrade::chain_for;

/// One event's line as the journal writes it (for differential tests of
/// the replay's readers).
#[cfg(test)]
pub(crate) fn encode_line(chain: &Chain, seq: u64, prev: &str, ev: &Event) -> String {
    encode(chain, seq, prev, ev).0
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("journal {}{}: {problem}", path.display(), LineNo(*line))]
    Damaged {
        path: PathBuf,
        /// Its line number (counted from 1); 0 where it isn't known (the
        /// problem then says where, by byte offset).
        line: u64,
        problem: String,
    },
    #[error("journal key {path}: {problem}")]
    Key { path: PathBuf, problem: String },
    /// The file hitl has open is no longer the one at the journal's path.
    #[error("journal {path} was {what} while hitl was running")]
    Replaced { path: PathBuf, what: String },
}

/// `, line N`, or nothing for an unknown line (0): never "line 0".
struct LineNo(u64);

impl std::fmt::Display for LineNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, ", line {n}"),
        }
    }
}

/// A journaled event with its place in the chain.
#[derive(Debug, Clone)]
pub struct Record {
    pub seq: u64,
    pub hash: String,
    pub event: Event,
}

/// Where a checkpoint left the journal: its head line and where it ends.
/// Reading resumes after it, once the head line is found there unchanged.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resume {
    pub seq: u64,
    pub hash: String,
    /// Where the head line starts.
    pub head_offset: u64,
    /// Where it ends: the journal's length then.
    pub end: u64,
}

/// A torn last line: cut off at open, reported by `verify`.
#[derive(Debug, Clone, PartialEq)]
pub struct TornTail {
    pub line: u64,
    pub bytes: usize,
}

/// The journal, open for appending.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// The file's length after the last fsynced append: a failed append is
    /// cut back to it, and only this much is read when state is rebuilt.
    len: u64,
    /// A failed append may have left bytes past `len` that could not be
    /// cut off yet. Otherwise a length other than `len` means another
    /// program changed the file, which is never cut silently.
    cut_pending: bool,
    next_seq: u64,
    last_hash: String,
    /// Where the last line starts, for a checkpoint to name it.
    head_offset: u64,
    /// Where each line of the last append starts: the engine keeps them
    /// to read a settled request's lines back ([`request_events`]).
    appended: Vec<u64>,
    /// How lines are MACed: always keyed once the daemon opened it.
    chain: Chain,
}

impl Journal {
    /// Opens (or creates) the journal, returning it with every record in it.
    /// A torn last line is cut off and returned; any other damage is an error.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Record>, Option<TornTail>), JournalError> {
        let mut records = Vec::new();
        let (journal, torn) = Journal::open_with(path, |r| records.push(r))?;
        Ok((journal, records, torn))
    }

    /// Opens (or creates) the journal, handing each record to `visit` in
    /// turn (nothing is kept). Creates the key for a new journal, and
    /// upgrades a journal from before the key once.
    pub fn open_with(
        path: &Path,
        visit: impl FnMut(Record),
    ) -> Result<(Journal, Option<TornTail>), JournalError> {
        let chain = upgrade::prepare(path)?;
        Journal::open_after(path, chain, None, visit)
    }

    /// The chain the daemon writes with: creates the key for a new journal,
    /// and upgrades a journal from before the key once.
    pub fn prepare(path: &Path) -> Result<Chain, JournalError> {
        upgrade::prepare(path)
    }

    /// Opens the journal and hands `visit` the records after `from` (all of
    /// them for `None`), once the line `from` names is found in place with
    /// its sequence number and hash, so the records before it are the ones
    /// the checkpoint was made from. A mismatch is an error.
    pub fn open_after(
        path: &Path,
        chain: Chain,
        from: Option<&Resume>,
        mut visit: impl FnMut(Record),
    ) -> Result<(Journal, Option<TornTail>), JournalError> {
        Journal::open_after_lines(path, chain, from, |line, _| {
            visit(line.record()?);
            Ok(())
        })
    }

    /// [`Journal::open_after`] handing over each checked line and the
    /// offset it starts at, unparsed: the replay reads only what it needs.
    /// An error from `visit` is damage at that line.
    pub fn open_after_lines(
        path: &Path,
        chain: Chain,
        from: Option<&Resume>,
        mut visit: impl FnMut(&Line, u64) -> Result<(), String>,
    ) -> Result<(Journal, Option<TornTail>), JournalError> {
        let mut file = Journal::open_file(path)?;
        let (base, prev, first) = match from {
            Some(r) => {
                scan::check_head(path, &file, &chain, r)?;
                (r.end, r.hash.as_str(), r.seq + 1)
            }
            None => (0, GENESIS, 1),
        };
        file.seek(std::io::SeekFrom::Start(base))
            .map_err(|error| JournalError::Io {
                path: path.to_path_buf(),
                error,
            })?;
        let mut walked = walk(path, &file, &chain, prev, first, |line| {
            visit(line, base + line.offset)
        })?;
        if walked.head.is_none()
            && let Some(r) = from
        {
            walked.head = Some((r.seq, r.hash.clone()));
            walked.head_offset = r.head_offset;
        } else {
            walked.head_offset += base;
        }
        walked.end += base;
        walked.torn = walked
            .torn
            .map(|(offset, line, n)| (offset + base, line, n));
        Journal::finish_open(path, file, chain, walked)
    }

    /// The journal's head and where its lines end, for a checkpoint.
    pub fn resume_point(&self) -> Option<Resume> {
        (self.next_seq > 1).then(|| Resume {
            seq: self.next_seq - 1,
            hash: self.last_hash.clone(),
            head_offset: self.head_offset,
            end: self.len,
        })
    }

    /// How lines are MACed; checkpoints are MACed the same way.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    fn open_file(path: &Path) -> Result<File, JournalError> {
        OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|error| JournalError::Io {
                path: path.to_path_buf(),
                error,
            })
    }

    /// Cuts a torn last line off and makes the journal ready to append
    /// after the walk's head.
    fn finish_open(
        path: &Path,
        file: File,
        chain: Chain,
        walked: scan::Walked,
    ) -> Result<(Journal, Option<TornTail>), JournalError> {
        let io = |error| JournalError::Io {
            path: path.to_path_buf(),
            error,
        };
        let mut torn = None;
        if let Some((offset, line, bytes)) = walked.torn {
            file.set_len(offset).map_err(io)?;
            file.sync_all().map_err(io)?;
            torn = Some(TornTail { line, bytes });
        }
        let len = walked.end;
        let (seq, hash) = walked.head.unwrap_or((0, GENESIS.to_string()));
        let journal = Journal {
            path: path.to_path_buf(),
            file,
            len,
            cut_pending: false,
            next_seq: seq + 1,
            last_hash: hash,
            head_offset: walked.head_offset,
            appended: Vec::new(),
            chain,
        };
        Ok((journal, torn))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where each line of the last successful append starts.
    pub fn appended(&self) -> &[u64] {
        &self.appended
    }

    /// Appends events as consecutive lines and fsyncs once. On failure
    /// nothing of them stays in the file (as far as the file system lets
    /// us cut it back; what it doesn't is cut before the next append).
    pub fn append(&mut self, events: &[Event]) -> Result<(), JournalError> {
        if events.is_empty() {
            return Ok(());
        }
        fail::fail_point!("journal-before-append");
        self.ready_to_write()?;
        let mut buf = String::new();
        let (mut seq, mut prev) = (self.next_seq, self.last_hash.clone());
        let mut head_offset = self.head_offset;
        let mut offsets = Vec::with_capacity(events.len());
        for ev in events {
            let (line, hash) = encode(&self.chain, seq, &prev, ev);
            head_offset = self.len + buf.len() as u64;
            offsets.push(head_offset);
            buf.push_str(&line);
            buf.push('\n');
            seq += 1;
            prev = hash;
        }
        let written = self
            .file
            .write_all(buf.as_bytes())
            .and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            // A short write (disk full) or an unsynced one (I/O error) must
            // not stay: the file ends with the last event that was fsynced.
            let cut = self.file.set_len(self.len);
            self.cut_pending = cut.and_then(|()| self.file.sync_data()).is_err();
            return Err(self.io(error));
        }
        self.len += buf.len() as u64;
        self.head_offset = head_offset;
        self.appended = offsets;
        self.next_seq = seq;
        self.last_hash = prev;
        fail::fail_point!("journal-after-append");
        Ok(())
    }

    /// Whether an append could go through now: the journal is in place,
    /// any failed append is cut off, and the file system gives it room
    /// (a reservation past its end, which `fallocate` refuses when the disk
    /// is full, read-only, or the file immutable).
    pub fn probe(&mut self) -> Result<(), JournalError> {
        self.ready_to_write()?;
        let fd = self.file.as_raw_fd();
        let offset = i64::try_from(self.len).unwrap_or(i64::MAX);
        // SAFETY: fd is our open file; fallocate has no other preconditions.
        let r = unsafe { libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, offset, 1 << 16) };
        if r != 0 {
            let error = std::io::Error::last_os_error();
            let unsupported = matches!(
                error.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL)
            );
            if !unsupported {
                return Err(self.io(error));
            }
        }
        Ok(())
    }

    /// Every record up to the last fsynced append, read from the open file
    /// (which may no longer be at the journal's path).
    pub fn records(&self) -> Result<Vec<Record>, JournalError> {
        let mut reader = &self.file;
        reader
            .seek(std::io::SeekFrom::Start(0))
            .map_err(|e| self.io(e))?;
        let mut records = Vec::new();
        walk(
            &self.path,
            reader.take(self.len),
            &self.chain,
            GENESIS,
            1,
            |line| {
                records.push(line.record()?);
                Ok(())
            },
        )?;
        Ok(records)
    }

    /// The last record's sequence number and hash.
    pub fn head(&self) -> (u64, &str) {
        (self.next_seq - 1, &self.last_hash)
    }

    /// Checks the file is still the journal, and cuts off what a failed
    /// append left behind.
    fn ready_to_write(&mut self) -> Result<(), JournalError> {
        let open = self.file.metadata().map_err(|e| self.io(e))?;
        let here = match std::fs::metadata(&self.path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.io(e)),
        };
        if here.is_none_or(|m| (m.dev(), m.ino()) != (open.dev(), open.ino())) {
            return Err(JournalError::Replaced {
                path: self.path.clone(),
                what: self.whereabouts(),
            });
        }
        if open.len() != self.len && !self.cut_pending {
            return Err(JournalError::Replaced {
                path: self.path.clone(),
                what: format!(
                    "changed by another program ({} bytes where hitl wrote {})",
                    open.len(),
                    self.len
                ),
            });
        }
        if self.cut_pending {
            self.file
                .set_len(self.len)
                .and_then(|()| self.file.sync_data())
                .map_err(|e| self.io(e))?;
            self.cut_pending = false;
        }
        Ok(())
    }

    /// Where the open file is now, as the kernel knows it.
    fn whereabouts(&self) -> String {
        let fd = self.file.as_raw_fd();
        match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
            Ok(p) if p.to_string_lossy().ends_with(" (deleted)") => "deleted".into(),
            Ok(p) if p != self.path => format!("moved to {}", p.display()),
            _ => "moved away or replaced".into(),
        }
    }

    fn io(&self, error: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            error,
        }
    }
}

#[cfg(test)]
mod key_tests;
#[cfg(test)]
mod tests;
