//! Checkpoints: the engine's request state, written atomically and MACed
//! with the journal key every `checkpoint_every` events and at a clean
//! shutdown, so a start-up replays only the journal's tail.
//!
//! The file (`checkpoint` in the state folder) is a magic line, a header
//! line (the journal's head and where its lines end, see [`Resume`]; the
//! trust gate's [`Ledger`]; how many records each section holds), then
//! three binary sections: the settled requests' compact records
//! ([`Settled`], 40 bytes each, sorted by id), the idempotency keys and
//! the drop-in fingerprints of settled requests (as hashes), then the
//! requests held in full (the open ones: one JSON object a line, with
//! where their journal lines are), and the HMAC-SHA256 of all of that as a
//! last line. At start-up it is used only if its MAC checks, the journal
//! still holds its head line at the place it names (so the journal before
//! it is the one it was made from), and the tail chains on from it;
//! anything else is a full replay and a log line saying why.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::DaemonError;
use crate::config::Config;
use crate::journal::key::{Chain, StreamMac};
use crate::journal::{Journal, JournalError, Reader, Resume, TornTail};
use crate::machine::{Fold, FoldError, Ledger, Machine, Parts};
use crate::request::settled_file::SettledFileError;

pub const FILE: &str = "checkpoint";
const MAGIC: &[u8] = b"hitl checkpoint v3\n";
/// The last line: 64 hex digits of MAC and a newline.
const MAC_LINE: u64 = 65;
/// A settled drop-in: its fingerprint's hash and its id.
const DROP_IN_BYTES: usize = 16;

#[derive(Serialize, Deserialize)]
struct Header {
    journal: Resume,
    last_event: Option<Timestamp>,
    /// Requests held in full (one JSON line each).
    requests: usize,
    /// Compact records of settled requests held in memory (hot).
    settled: usize,
    /// The archived ones' file, if any (`checkpoint_cold.rs`).
    cold: Option<ColdRef>,
    /// Ids taken out of that file (their requests held in full again).
    tombstones: usize,
    keys: usize,
    drop_ins: usize,
    /// The trust gate's journaled memory (authenticator steps taken, undo
    /// windows, approvals counted, wrong codes).
    ledger: Ledger,
}

/// A request held in full, and where its journal lines start.
#[derive(Serialize, Deserialize)]
struct Held<R> {
    span: Option<(u64, u64)>,
    request: R,
}

/// The journal and the state rebuilt from it at start-up.
pub(super) struct Replayed {
    pub journal: Journal,
    pub machine: Machine,
    pub torn: Option<TornTail>,
    pub last_event: Option<Timestamp>,
    /// Whether the checkpoint was used (else: a full replay).
    pub from_checkpoint: bool,
}

/// Opens the journal and rebuilds the state: from the checkpoint and the
/// journal's tail when the checkpoint is sound, else by a full replay.
pub(super) fn replay(state: &Path, config: Arc<Config>) -> Result<Replayed, DaemonError> {
    let path = state.join("journal.jsonl");
    let chain = Journal::prepare(&path)?;
    match from_checkpoint(state, &chain, cold::DAEMON) {
        Ok(Some(r)) => {
            let mut fold = Fold::from_parts(r.parts);
            fold.last_event = r.last_event;
            match open_and_fold(&path, &chain, Some(&r.resume), fold) {
                Ok((journal, torn, last_event, parts)) => {
                    tracing::info!(
                        seq = r.resume.seq,
                        "state loaded from the checkpoint; replayed the journal's tail after it"
                    );
                    return Ok(Replayed {
                        journal,
                        last_event,
                        machine: Machine::from_parts(config, parts),
                        torn,
                        from_checkpoint: true,
                    });
                }
                Err(why) => {
                    tracing::warn!(%why, "the checkpoint does not match the journal: replaying the whole journal")
                }
            }
        }
        Ok(None) => tracing::info!("no checkpoint: replaying the whole journal"),
        Err(Unusable::Version) => {
            tracing::info!("the checkpoint is of another version: replaying the whole journal")
        }
        Err(Unusable::Cold(why)) => {
            // Removed, so the CLI reads the whole journal too until the
            // next checkpoint.
            let removed = std::fs::remove_file(state.join(FILE)).is_ok();
            tracing::warn!(%why, checkpoint_removed = removed, "the settled index is damaged: replaying the whole journal")
        }
        Err(why) => tracing::warn!(%why, "the checkpoint is damaged: replaying the whole journal"),
    }
    let (journal, torn, last_event, parts) = open_and_fold(&path, &chain, None, Fold::default())
        .map_err(|e| match e {
            FoldError::Journal(e) => DaemonError::from(e),
            FoldError::Apply(e) => DaemonError::from(e),
            FoldError::Line(e) => DaemonError::from(JournalError::Damaged {
                path: path.clone(),
                line: 0,
                problem: e,
            }),
        })?;
    Ok(Replayed {
        journal,
        last_event,
        machine: Machine::from_parts(config, parts),
        torn,
        from_checkpoint: false,
    })
}

/// The state for the CLI's read-only commands: the checkpoint and the
/// journal's tail when the checkpoint is sound, else the whole journal;
/// nothing is written.
pub fn read_state(state: &Path, config: Arc<Config>) -> Result<Machine, DaemonError> {
    let path = state.join("journal.jsonl");
    let chain = crate::journal::chain_for(&path)?;
    if let Ok(Some(r)) = from_checkpoint(state, &chain, cold::CLI) {
        let fold = Fold::from_parts(r.parts);
        if let Ok(parts) = read_and_fold(&path, &chain, Some(&r.resume), fold) {
            return Ok(Machine::from_parts(config, parts));
        }
    }
    match read_and_fold(&path, &chain, None, Fold::default()) {
        Ok(parts) => Ok(Machine::from_parts(config, parts)),
        Err(FoldError::Journal(e)) => Err(e.into()),
        Err(FoldError::Apply(e)) => Err(e.into()),
        Err(FoldError::Line(problem)) => Err(JournalError::Damaged {
            path,
            line: 0,
            problem,
        }
        .into()),
    }
}

fn read_and_fold(
    path: &Path,
    chain: &Chain,
    from: Option<&Resume>,
    mut fold: Fold,
) -> Result<Parts, FoldError> {
    let mut bad = None;
    crate::journal::for_each_line(path, from, |line, offset| {
        if bad.is_none() {
            bad = fold.take(line, offset).err();
        }
        Ok(())
    })?;
    if let Some(e) = bad {
        return Err(e);
    }
    finish(path, chain, fold)
}

/// The fold's state, its open requests read back in full from the journal.
fn finish(path: &Path, chain: &Chain, fold: Fold) -> Result<Parts, FoldError> {
    let mut reader = None;
    fold.finish(|id, first, last| {
        if reader.is_none() {
            reader = Some(Reader::open(path, chain.clone())?);
        }
        reader
            .as_mut()
            .expect("opened above")
            .events(first, last, id)
    })
}

type Opened = (Journal, Option<TornTail>, Option<Timestamp>, Parts);

fn open_and_fold(
    path: &Path,
    chain: &Chain,
    from: Option<&Resume>,
    mut fold: Fold,
) -> Result<Opened, FoldError> {
    let mut bad = None;
    let (journal, torn) = Journal::open_after_lines(path, chain.clone(), from, |line, offset| {
        if bad.is_none() {
            bad = fold.take(line, offset).err();
        }
        Ok(())
    })?;
    if let Some(e) = bad {
        return Err(e);
    }
    let last_event = fold.last_event;
    let parts = finish(path, journal.chain(), fold)?;
    Ok((journal, torn, last_event, parts))
}

struct Loaded {
    resume: Resume,
    last_event: Option<Timestamp>,
    parts: Parts,
}

/// Why a checkpoint can't be used.
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("its MAC does not check (edited, or cut short)")]
    Mac,
    #[error("unreadable: {0}")]
    Format(String),
    #[error("{0}")]
    Cold(#[from] SettledFileError),
    #[error("written by another version of hitl")]
    Version,
}

fn from_checkpoint(
    state: &Path,
    chain: &Chain,
    how: cold::Opening,
) -> Result<Option<Loaded>, Unusable> {
    let path = state.join(FILE);
    let file = match open_regular(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if chain.mac().is_none() {
        return Ok(None);
    }
    let len = file.metadata()?.len();
    load(state, chain, how, file, len).map(Some)
}

/// A checkpoint `len` bytes long from `file`, read once, front to back:
/// the bytes parsed are the bytes MACed (a check, then a second read,
/// would parse whatever the file held by then).
fn load(
    state: &Path,
    chain: &Chain,
    how: cold::Opening,
    mut file: impl Read,
    len: u64,
) -> Result<Loaded, Unusable> {
    let mac = chain.mac().ok_or(Unusable::Mac)?;
    if len < MAC_LINE + MAGIC.len() as u64 {
        return Err(Unusable::Mac);
    }
    let body = MacReader {
        inner: (&mut file).take(len - MAC_LINE),
        mac,
    };
    let mut input = BufReader::with_capacity(1 << 16, body);
    let parsed = parse(&mut input, len);
    std::io::copy(&mut input, &mut std::io::sink())?;
    let mac = input.into_inner().mac;
    let mut tail = [0u8; MAC_LINE as usize];
    file.read_exact(&mut tail)?;
    if tail[64] != b'\n' || !mac.verify_hex(&tail[..64]) {
        return Err(Unusable::Mac);
    }
    let (header, mut parts, gone) = parsed?;
    let opened = header
        .cold
        .as_ref()
        .map(|r| cold::open(state, chain, r, how));
    let settled = std::mem::take(&mut parts.settled);
    parts.settled = settled.with_cold(opened.transpose()?, gone);
    Ok(Loaded {
        resume: header.journal,
        last_event: header.last_event,
        parts,
    })
}

/// Opens `path` only if it is a regular file, never following a symlink
/// and never waiting on a FIFO's writer (the state folder is hostile).
fn open_regular(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Feeds what it reads to the MAC.
struct MacReader<R> {
    inner: R,
    mac: StreamMac,
}

impl<R: Read> Read for MacReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.mac.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes a checkpoint of the machine's state at the journal's head: a
/// new file, fsynced, renamed over the old one, the folder fsynced.
pub(super) fn write(
    state: &Path,
    journal: &Journal,
    last_event: Option<Timestamp>,
    machine: &Machine,
) -> Result<(), std::io::Error> {
    let (Some(resume), Some(mac)) = (journal.resume_point(), journal.chain().mac()) else {
        return Ok(()); // nothing journaled yet, or no key
    };
    let tmp = state.join(format!("{FILE}.tmp"));
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let mut out = MacWriter {
        inner: BufWriter::with_capacity(1 << 16, file),
        mac,
    };
    let cold = cold::cold_ref(machine.settled_index());
    let keep = cold.as_ref().map(|c| c.file().to_string());
    write_body(&mut out, resume, last_event, machine, cold)?;
    let MacWriter { mut inner, mac } = out;
    inner.write_all(&mac.finish_hex())?;
    inner.write_all(b"\n")?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let path: PathBuf = state.join(FILE);
    std::fs::rename(&tmp, &path)?;
    File::open(state)?.sync_all()?;
    cold::remove_stale(state, keep.as_deref());
    Ok(())
}

/// Feeds what it writes to the MAC.
struct MacWriter<W> {
    inner: W,
    mac: StreamMac,
}

impl<W: Write> Write for MacWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.mac.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[path = "checkpoint_cold.rs"]
pub mod cold;
use cold::ColdRef;

#[path = "checkpoint_sections.rs"]
mod sections;
use sections::{parse, write_body};

#[cfg(test)]
#[path = "checkpoint_tests.rs"]
mod tests;
