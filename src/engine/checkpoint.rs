//! Checkpoints: the engine's request state, written atomically and MACed
//! with the journal key every `checkpoint_every` events and at a clean
//! shutdown, so a start-up replays only the journal's tail.
//!
//! The file (`checkpoint` in the state folder) is a magic line, a header
//! line (the journal's head and where its lines end, see [`Resume`]; and
//! the trust gate's [`Ledger`]), the requests (one JSON object a line), and the HMAC-SHA256 of all
//! of that as a last line. At start-up it is used only if its MAC checks,
//! the journal still holds its head line at the place it names (so the
//! journal before it is the one it was made from), and the tail chains on
//! from it; anything else is a full replay and a log line saying why.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::DaemonError;
use crate::config::Config;
use crate::journal::key::{Chain, StreamMac};
use crate::journal::{Journal, Resume, TornTail};
use crate::machine::{Ledger, Machine};
use crate::request::{ApplyError, Event, Id, Request, apply_owned};

pub const FILE: &str = "checkpoint";
const MAGIC: &[u8] = b"hitl checkpoint v1\n";
/// The last line: 64 hex digits of MAC and a newline.
const MAC_LINE: u64 = 65;

#[derive(Serialize, Deserialize)]
struct Header {
    journal: Resume,
    last_event: Option<Timestamp>,
    requests: usize,
    /// The trust gate's journaled memory (authenticator steps taken, undo
    /// windows, approvals counted, wrong codes); absent before there was one.
    #[serde(default)]
    ledger: Ledger,
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
    match from_checkpoint(state, &chain) {
        Ok(Some(r)) => {
            let mut folded = Folded {
                requests: r.requests,
                ledger: r.ledger,
                last_event: r.last_event,
            };
            let tail = open_and_apply(&path, &chain, Some(&r.resume), &mut folded);
            match tail {
                Ok((journal, torn)) => {
                    tracing::info!(
                        seq = r.resume.seq,
                        "state loaded from the checkpoint; replayed the journal's tail after it"
                    );
                    return Ok(Replayed {
                        journal,
                        last_event: folded.last_event,
                        machine: folded.into_machine(config),
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
        Err(why) => tracing::warn!(%why, "the checkpoint is damaged: replaying the whole journal"),
    }
    let mut folded = Folded::default();
    let (journal, torn) =
        open_and_apply(&path, &chain, None, &mut folded).map_err(|e| match e {
            Tail::Journal(e) => DaemonError::from(e),
            Tail::Apply(e) => DaemonError::from(e),
        })?;
    Ok(Replayed {
        journal,
        last_event: folded.last_event,
        machine: folded.into_machine(config),
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
    if let Ok(Some(r)) = from_checkpoint(state, &chain) {
        let mut folded = Folded {
            requests: r.requests,
            ledger: r.ledger,
            last_event: r.last_event,
        };
        let mut bad = None;
        let tail = crate::journal::for_each_after(&path, &r.resume, |rec| {
            if bad.is_none() {
                bad = folded.take(rec.event).err();
            }
        });
        if tail.is_ok() && bad.is_none() {
            return Ok(folded.into_machine(config));
        }
    }
    let mut folded = Folded::default();
    let mut bad = None;
    crate::journal::for_each(&path, |rec| {
        if bad.is_none() {
            bad = folded.take(rec.event).err();
        }
    })?;
    match bad {
        Some(e) => Err(e.into()),
        None => Ok(folded.into_machine(config)),
    }
}

#[derive(Debug, thiserror::Error)]
enum Tail {
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// What a replay folds the journal into, one event at a time (no records
/// are kept): the requests, the trust ledger, the last event's time.
#[derive(Default)]
struct Folded {
    requests: BTreeMap<Id, Request>,
    ledger: Ledger,
    last_event: Option<Timestamp>,
}

impl Folded {
    fn take(&mut self, event: Event) -> Result<(), ApplyError> {
        self.last_event = Some(event.time);
        self.ledger.absorb(&event);
        apply_owned(&mut self.requests, event)
    }

    fn into_machine(self, config: Arc<Config>) -> Machine {
        Machine::from_requests(config, self.requests, self.ledger)
    }
}

fn open_and_apply(
    path: &Path,
    chain: &Chain,
    from: Option<&Resume>,
    folded: &mut Folded,
) -> Result<(Journal, Option<TornTail>), Tail> {
    let mut bad = None;
    let opened = Journal::open_after(path, chain.clone(), from, |r| {
        if bad.is_none() {
            bad = folded.take(r.event).err();
        } else {
            folded.last_event = Some(r.event.time);
        }
    })?;
    match bad {
        Some(e) => Err(e.into()),
        None => Ok(opened),
    }
}

struct Loaded {
    resume: Resume,
    last_event: Option<Timestamp>,
    requests: BTreeMap<Id, Request>,
    ledger: Ledger,
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
}

fn from_checkpoint(state: &Path, chain: &Chain) -> Result<Option<Loaded>, Unusable> {
    let path = state.join(FILE);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(mac) = chain.mac() else {
        return Ok(None);
    };
    check_mac(&mut file, mac)?;
    file.rewind()?;
    let len = file.metadata()?.len();
    let mut input = BufReader::with_capacity(1 << 16, file.take(len - MAC_LINE));
    let mut line = Vec::new();
    input.read_until(b'\n', &mut line)?;
    if line != MAGIC {
        return Err(Unusable::Format("not a hitl checkpoint".into()));
    }
    line.clear();
    input.read_until(b'\n', &mut line)?;
    let bad = |e: serde_json::Error| Unusable::Format(e.to_string());
    let header: Header = serde_json::from_slice(&line).map_err(bad)?;
    // One request a line, each parsed from a reused buffer: from_reader
    // over the whole array is several times slower.
    let mut requests = BTreeMap::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let r: Request = serde_json::from_slice(&line).map_err(bad)?;
        requests.insert(r.id.clone(), r);
    }
    if requests.len() != header.requests {
        return Err(Unusable::Format("request count differs".into()));
    }
    Ok(Some(Loaded {
        resume: header.journal,
        last_event: header.last_event,
        requests,
        ledger: header.ledger,
    }))
}

/// Checks the last line is the MAC of everything before it.
fn check_mac(file: &mut File, mut mac: StreamMac) -> Result<(), Unusable> {
    let len = file.metadata()?.len();
    if len < MAC_LINE + MAGIC.len() as u64 {
        return Err(Unusable::Mac);
    }
    let mut body = BufReader::with_capacity(1 << 16, (&*file).take(len - MAC_LINE));
    loop {
        let buf = body.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        mac.update(buf);
        let n = buf.len();
        body.consume(n);
    }
    let mut tail = [0u8; MAC_LINE as usize];
    file.read_exact(&mut tail)?;
    if tail[64] != b'\n' || !mac.verify_hex(&tail[..64]) {
        return Err(Unusable::Mac);
    }
    Ok(())
}

/// Writes a checkpoint of `requests` at the journal's head: a new file,
/// fsynced, renamed over the old one, the folder fsynced.
pub(super) fn write(
    state: &Path,
    journal: &Journal,
    last_event: Option<Timestamp>,
    machine: &Machine,
) -> Result<(), std::io::Error> {
    let requests = machine.requests();
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
    out.write_all(MAGIC)?;
    let header = Header {
        journal: resume,
        last_event,
        requests: requests.len(),
        ledger: machine.ledger().clone(),
    };
    serde_json::to_writer(&mut out, &header)?;
    out.write_all(b"\n")?;
    for r in requests.values() {
        serde_json::to_writer(&mut out, r)?;
        out.write_all(b"\n")?;
    }
    let MacWriter { mut inner, mac } = out;
    inner.write_all(&mac.finish_hex())?;
    inner.write_all(b"\n")?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let path: PathBuf = state.join(FILE);
    std::fs::rename(&tmp, &path)?;
    File::open(state)?.sync_all()
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

#[cfg(test)]
#[path = "checkpoint_tests.rs"]
mod tests;
