//! The checkpoint's cold file: the archived settled requests on disk
//! (`request/settled_index.rs`, format in `request/settled_file.rs`).
//! The checkpoint's (MACed) header names it, with its trailer's MAC and
//! binding, so it is opened only as that checkpoint wrote it. A start of
//! the daemon checks every block of it first; a block that fails its
//! check later, at use, stops the daemon ([`daemon_damage`]) after
//! removing the checkpoint, so the next start replays the whole journal.

use std::path::Path;
use std::time::Instant;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::FILE;
use crate::journal::Journal;
use crate::journal::key::{Chain, hex32};
use crate::machine::Machine;
use crate::request::settled_file::{self, SettledFile, SettledFileError};
use crate::request::settled_index::{Cold, OnDamage};
use crate::request::{Settled, SettledIndex};

/// Archived hot records plus tombstones past which a periodic checkpoint
/// writes a new cold file (a stop writes one if there are any).
pub const BOUND: usize = 65_536;
/// Cold files are named `settled-<journal seq>[-n]`.
const PREFIX: &str = "settled-";

/// The cold file a checkpoint names.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) struct ColdRef {
    /// Its name in the state folder.
    file: String,
    /// Its trailer's MAC (64 hex digits).
    mac: String,
    /// What it is bound to, in hex.
    bind: String,
    /// How many records it holds.
    records: u64,
}

/// How a process opens the cold file: the daemon checks every block
/// first; each says what a block failing its check at use does.
#[derive(Clone, Copy)]
pub(super) struct Opening {
    pub verify: bool,
    pub on_damage: OnDamage,
}

pub(super) const DAEMON: Opening = Opening {
    verify: true,
    on_damage: daemon_damage,
};
pub(super) const CLI: Opening = Opening {
    verify: false,
    on_damage: cli_damage,
};

/// What names the index's cold file, if it has one.
pub(super) fn cold_ref(index: &SettledIndex) -> Option<ColdRef> {
    let f = index.cold()?.file();
    Some(ColdRef {
        file: f.path().file_name()?.to_str()?.to_string(),
        mac: String::from_utf8_lossy(f.mac()).into_owned(),
        bind: String::from_utf8_lossy(&hex32(f.bind())).into_owned(),
        records: f.len(),
    })
}

/// Opens the cold file `r` names in `state`.
pub(super) fn open(
    state: &Path,
    chain: &Chain,
    r: &ColdRef,
    how: Opening,
) -> Result<Cold, SettledFileError> {
    let path = state.join(&r.file);
    let bad = |why: &str| SettledFileError::Damaged {
        path: path.clone(),
        why: why.to_string(),
    };
    if !r.file.starts_with(PREFIX) || r.file.contains('/') {
        return Err(bad("not a settled index's name"));
    }
    let mac: [u8; 64] = (r.mac.as_bytes().try_into()).map_err(|_| bad("a bad MAC"))?;
    let bind = unhex32(&r.bind).ok_or_else(|| bad("a bad binding"))?;
    let file = SettledFile::open_counted(&path, chain, bind, &mac, Some(r.records))?;
    if file.len() != r.records {
        return Err(bad("not as many records as the checkpoint says"));
    }
    if how.verify {
        let started = Instant::now();
        file.verify()?;
        let ms = started.elapsed().as_millis() as u64;
        tracing::debug!(
            records = r.records,
            ms,
            "every block of the settled index checked"
        );
    }
    Ok(Cold::new(file, how.on_damage))
}

/// Moves the archived hot records and the tombstones into a new cold file
/// (the old one's records merged in) when there are `BOUND` of them, or
/// any at a stop; whether it did.
pub(crate) fn go_cold(
    state: &Path,
    journal: &Journal,
    machine: &mut Machine,
    now: Timestamp,
    stop: bool,
) -> Result<bool, SettledFileError> {
    let kept = machine.config().done_notes_kept;
    let archived = |s: &Settled| s.archived(now, kept);
    let index = machine.settled_index();
    let due = index.iter_hot().filter(|s| archived(s)).count() + index.tombstones().len();
    let (Some(resume), Some(_)) = (journal.resume_point(), journal.chain().mac()) else {
        return Ok(false); // nothing journaled yet, or no key
    };
    if due == 0 || (!stop && due < BOUND) {
        return Ok(false);
    }
    let started = Instant::now();
    let mut bind = Sha256::new();
    bind.update(b"hitl settled index\n");
    bind.update(resume.seq.to_le_bytes());
    bind.update(resume.hash.as_bytes());
    let bind: [u8; 32] = bind.finalize().into();
    let path = fresh_name(state, resume.seq);
    let records = index.iter_sides().filter_map(|(hot, cold)| match hot {
        Some(h) => archived(&h).then_some(h),
        None => cold,
    });
    let mac = settled_file::write(&path, journal.chain(), bind, records)?;
    let file = SettledFile::open(&path, journal.chain(), bind, &mac)?;
    let records = file.len();
    machine
        .settled_index_mut()
        .went_cold(Cold::new(file, daemon_damage), archived);
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(moved = due, records, ms, file = %path.display(), "archived settled requests written to the settled index");
    Ok(true)
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A name in `state` no file has yet.
fn fresh_name(state: &Path, seq: u64) -> std::path::PathBuf {
    let mut n = 0;
    loop {
        let name = match n {
            0 => format!("{PREFIX}{seq}"),
            n => format!("{PREFIX}{seq}-{n}"),
        };
        let path = state.join(name);
        if !path.exists() {
            return path;
        }
        n += 1;
    }
}

/// Removes the cold files (and their temporaries) but `keep`, once a
/// checkpoint naming `keep` (or none) is durable.
pub(super) fn remove_stale(state: &Path, keep: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(state) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(PREFIX) && Some(name) != keep {
            match std::fs::remove_file(e.path()) {
                Ok(()) => tracing::debug!(file = name, "an old settled index removed"),
                Err(error) => {
                    tracing::warn!(file = name, %error, "could not remove an old settled index")
                }
            }
        }
    }
}

impl ColdRef {
    pub(super) fn file(&self) -> &str {
        &self.file
    }
}

/// The daemon's answer to a cold block that fails its check at use: no
/// answer. It removes the checkpoint (the next start replays the whole
/// journal, which holds every record), says so, and stops, non-zero.
pub fn daemon_damage(e: &SettledFileError) -> ! {
    let checkpoint = e.path().and_then(Path::parent).map(|d| d.join(FILE));
    let removed = checkpoint.is_some_and(|p| std::fs::remove_file(p).is_ok());
    tracing::error!(error = %e, checkpoint_removed = removed, "the settled index is damaged: stopping; the next start replays the whole journal");
    eprintln!("hitl: {e}: stopping; the next start replays the whole journal");
    std::process::exit(1)
}

/// The CLI's: an error naming the file and the block, exit code 1.
pub fn cli_damage(e: &SettledFileError) -> ! {
    eprintln!("hitl: {e}");
    std::process::exit(1)
}
