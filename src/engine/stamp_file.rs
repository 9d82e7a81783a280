//! The note stamps kept across restarts: `note-stamps` in the state folder,
//! written atomically next to each checkpoint and MACed with the journal
//! key, so a start-up reads only the notes that changed while hitl was
//! down (see `docs/perf-vault.md`).
//!
//! The file is a magic line, a header line (the journal's head when it was
//! written, and how many notes follow), one line per note, and the
//! HMAC-SHA256 of all of that as a last line. A note's line is its stamp
//! (device, inode, size, modification and change times), when the stamp
//! was taken, the digest of the text it had, the request it is the note
//! of, and its path in the vault:
//!
//! ```text
//! 2049 1234567 1800 1764150000123456789 1764150000123456789 1764150061000000000 <32 hex> <id> Done/2026-11/pay.md
//! ```
//!
//! Only notes of requests whose state is in their note are written down
//! (see `NoteIndex::persisted`).

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::scan::Known;
use crate::journal::Resume;
use crate::journal::key::Chain;
use crate::request::Id;
use crate::vault::Stamp;

pub const FILE: &str = "note-stamps";
const MAGIC: &[u8] = b"hitl note stamps v1\n";
/// The last line: 64 hex digits of MAC and a newline.
const MAC_LINE: usize = 65;

#[derive(Serialize, Deserialize)]
struct Header {
    /// The journal's head when the file was written: the requests changed
    /// after it are read at start whatever their stamp.
    journal: Resume,
    notes: usize,
}

/// One note as written down.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    /// Absolute (joined to the vault's root when read back).
    pub path: PathBuf,
    pub known: Known,
    pub id: Id,
}

/// A stamp file read back, its MAC checked.
#[derive(Debug)]
pub(super) struct Loaded {
    pub resume: Resume,
    pub entries: Vec<Entry>,
}

/// Why the stamps from the last run can't be used.
#[derive(Debug, thiserror::Error)]
pub(super) enum Unusable {
    #[error("there is none")]
    Missing,
    #[error("the journal has no key to check it with")]
    NoKey,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("its MAC does not check (edited, forged or cut short)")]
    Mac,
    #[error("unreadable: {0}")]
    Format(String),
    #[error("it was written for another journal than this one ({0})")]
    Stale(String),
}

/// Writes the stamp file for the journal at `resume`: a new file, fsynced,
/// renamed over the old one, the folder fsynced. Returns how many notes.
pub(super) fn write(
    state: &Path,
    vault: &Path,
    resume: Resume,
    chain: &Chain,
    entries: impl Iterator<Item = Entry>,
) -> std::io::Result<usize> {
    let Some(mut mac) = chain.mac() else {
        return Ok(0);
    };
    let mut lines = Vec::with_capacity(1 << 16);
    let mut notes = 0;
    for e in entries {
        if push_line(&mut lines, vault, &e) {
            notes += 1;
        }
    }
    let mut body = Vec::with_capacity(lines.len() + 256);
    body.extend_from_slice(MAGIC);
    let header = Header {
        journal: resume,
        notes,
    };
    serde_json::to_writer(&mut body, &header)?;
    body.push(b'\n');
    body.extend_from_slice(&lines);
    mac.update(&body);
    body.extend_from_slice(&mac.finish_hex());
    body.push(b'\n');
    let tmp = state.join(format!("{FILE}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(&body)?;
    file.sync_all()?;
    std::fs::rename(&tmp, state.join(FILE))?;
    File::open(state)?.sync_all()?;
    Ok(notes)
}

/// One note's line; `false` (nothing written) for a path outside the vault
/// or one a line can't hold.
fn push_line(out: &mut Vec<u8>, vault: &Path, e: &Entry) -> bool {
    let Ok(rel) = e.path.strip_prefix(vault) else {
        return false;
    };
    let rel = rel.as_os_str().as_bytes();
    if rel.contains(&b'\n') || e.id.bytes().any(|b| b == b' ' || b == b'\n') {
        return false;
    }
    let at = e.known.at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let [dev, ino, size, mtime, ctime] = e.known.stamp.parts();
    let line = format!(
        "{dev} {ino} {size} {mtime} {ctime} {} {:032x} {} ",
        at.as_nanos(),
        e.known.digest,
        e.id
    );
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(rel);
    out.push(b'\n');
    true
}

/// Reads the stamp file, checking its MAC under the journal's key.
pub(super) fn load(state: &Path, vault: &Path, chain: &Chain) -> Result<Loaded, Unusable> {
    let mut file = match File::open(state.join(FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Missing),
        Err(e) => return Err(e.into()),
    };
    let Some(mut mac) = chain.mac() else {
        return Err(Unusable::NoKey);
    };
    let mut all = Vec::new();
    file.read_to_end(&mut all)?;
    if all.len() < MAGIC.len() + MAC_LINE || all[all.len() - 1] != b'\n' {
        return Err(Unusable::Mac);
    }
    let (body, tail) = all.split_at(all.len() - MAC_LINE);
    mac.update(body);
    if !mac.verify_hex(&tail[..64]) {
        return Err(Unusable::Mac);
    }
    let body = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| Unusable::Format("not a hitl stamp file".into()))?;
    let mut lines = body.split(|b| *b == b'\n');
    let header: Header = serde_json::from_slice(lines.next().unwrap_or_default())
        .map_err(|e| Unusable::Format(e.to_string()))?;
    let mut entries = Vec::with_capacity(header.notes);
    for line in lines.filter(|l| !l.is_empty()) {
        let entry = parse_line(line, vault)
            .ok_or_else(|| Unusable::Format(String::from_utf8_lossy(line).into_owned()))?;
        entries.push(entry);
    }
    if entries.len() != header.notes {
        return Err(Unusable::Format("the count of notes differs".into()));
    }
    Ok(Loaded {
        resume: header.journal,
        entries,
    })
}

fn parse_line(line: &[u8], vault: &Path) -> Option<Entry> {
    let mut fields = line.splitn(9, |b| *b == b' ');
    let mut next = || std::str::from_utf8(fields.next()?).ok();
    let mut numbers = [0i128; 6];
    for n in &mut numbers {
        *n = next()?.parse().ok()?;
    }
    let digest = u128::from_str_radix(next()?, 16).ok()?;
    let id = next()?.to_string();
    let rel = Path::new(OsStr::from_bytes(fields.next()?));
    // MACed, so written by hitl; still, nothing leads out of the vault.
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let [dev, ino, size, mtime, ctime, at] = numbers;
    let at = UNIX_EPOCH + Duration::from_nanos(u64::try_from(at).ok()?);
    let stamp = Stamp::from_parts([dev, ino, size, mtime, ctime])?;
    Some(Entry {
        path: vault.join(rel),
        known: Known { stamp, at, digest },
        id,
    })
}

#[cfg(test)]
#[path = "stamp_file_tests.rs"]
mod tests;
