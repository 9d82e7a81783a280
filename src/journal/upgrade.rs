//! Choosing a journal's chain at start, and upgrading a journal from before
//! the key (plain SHA-256 chain) to a keyed one, once.
//!
//! The upgrade re-MACs every line (see docs/security.md): it writes the
//! re-chained journal, ending with a `journal_keyed` event that records the
//! old SHA-256 head, to a new file, fsyncs it and renames it over the old
//! one. The key is first created as `journal.key.pending` and renamed to
//! `journal.key` only after the journal was replaced, so a crash at any
//! point leaves either the old journal with no key (upgraded again at the
//! next start) or the keyed journal with its key (the pending key is
//! adopted when the journal's first line checks under it).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::JournalError;
use super::key::{self, Chain};
use super::scan::{GENESIS, HASH_SUFFIX_LEN, PREV_FIELD_LEN, check, encode, walk};
use crate::request::{Actor, Event, EventKind, JOURNAL_EVENTS};

/// The chain a journal is read with, for read-only callers: keyed when the
/// key exists, legacy when there is no key and the journal is empty or
/// from before the key, an error when the journal is keyed and the key is
/// missing.
pub fn chain_for(path: &Path) -> Result<Chain, JournalError> {
    let kp = key::key_path(path);
    if let Some(key) = key::load(&kp)? {
        return Ok(Chain::keyed(&key));
    }
    if let Some(key) = key::load(&pending(&kp))?
        && first_line_checks(path, &Chain::keyed(&key))? == Some(true)
    {
        return Ok(Chain::keyed(&key));
    }
    match first_line_checks(path, &Chain::Legacy)? {
        None | Some(true) => Ok(Chain::Legacy),
        Some(false) => Err(missing_key(kp)),
    }
}

/// The chain for the daemon, which may write: creates the key for a new
/// journal, finishes an interrupted upgrade, or upgrades a legacy journal.
pub(super) fn prepare(path: &Path) -> Result<Chain, JournalError> {
    let kp = key::key_path(path);
    finish_pending(path, &kp)?;
    if let Some(key) = key::load(&kp)? {
        return Ok(Chain::keyed(&key));
    }
    match first_line_checks(path, &Chain::Legacy)? {
        None => Ok(Chain::keyed(&key::create(&kp)?)),
        Some(true) => upgrade(path, &kp),
        Some(false) => Err(missing_key(kp)),
    }
}

fn missing_key(kp: PathBuf) -> JournalError {
    JournalError::Key {
        path: kp,
        problem: "missing, but the journal is keyed: it can't be verified or continued \
                  without it; restore the key from a backup (hitl never makes a new key \
                  for a keyed journal, which would hide a rewrite)"
            .into(),
    }
}

fn pending(kp: &Path) -> PathBuf {
    kp.with_file_name(format!("{}.pending", key::KEY_FILE))
}

/// Whether the journal's first complete line checks under `chain`; `None`
/// when there is no complete line.
fn first_line_checks(path: &Path, chain: &Chain) -> Result<Option<bool>, JournalError> {
    let io = |error| JournalError::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut line = Vec::new();
    BufReader::new(file)
        .read_until(b'\n', &mut line)
        .map_err(io)?;
    if line.last() != Some(&b'\n') {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&line[..line.len() - 1]);
    Ok(Some(check(chain, &text, GENESIS, 1).is_ok()))
}

/// A crash during an upgrade left `journal.key.pending`: adopt it if the
/// journal was already replaced by the keyed one, else drop it.
fn finish_pending(path: &Path, kp: &Path) -> Result<(), JournalError> {
    let pend = pending(kp);
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |error| JournalError::Io { path: p, error }
    };
    let Some(key) = key::load(&pend)? else {
        return Ok(());
    };
    let adopt = !kp.exists() && first_line_checks(path, &Chain::keyed(&key))? == Some(true);
    if adopt {
        std::fs::rename(&pend, kp).map_err(io(kp))?;
        tracing::warn!(key = %kp.display(), "finished a journal upgrade cut short");
    } else {
        std::fs::remove_file(&pend).map_err(io(&pend))?;
    }
    key::sync_dir(kp).map_err(io(kp))
}

fn upgrade(path: &Path, kp: &Path) -> Result<Chain, JournalError> {
    let pend = pending(kp);
    let chain = Chain::keyed(&key::create(&pend)?);
    let tmp = path.with_file_name("journal.jsonl.upgrade");
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |error| JournalError::Io { path: p, error }
    };
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let mut prev = GENESIS.to_string();
    let input = File::open(path).map_err(io(path))?;
    let walked = walk(path, input, &Chain::Legacy, GENESIS, 1, |line| {
        let (text, hash) = rechain(&chain, line.text, &prev);
        prev = hash;
        writeln!(out, "{text}").map_err(|e| format!("writing {}: {e}", tmp.display()))
    })?;
    if let Some((_, line, bytes)) = walked.torn {
        tracing::warn!(
            line,
            bytes,
            "the journal's torn last line was left out of the upgrade"
        );
    }
    let legacy_events = walked.head.as_ref().map_or(0, |(seq, _)| *seq);
    let keyed = Event {
        time: jiff::Timestamp::now(),
        request: JOURNAL_EVENTS.into(),
        actor: Actor::Hitl,
        kind: EventKind::JournalKeyed {
            legacy_events,
            legacy_head_sha256: walked.head.map(|(_, h)| h),
        },
    };
    let (line, _) = encode(&chain, legacy_events + 1, &prev, &keyed);
    writeln!(out, "{line}").map_err(io(&tmp))?;
    let file = out.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    key::sync_dir(path).map_err(io(path))?;
    std::fs::rename(&pend, kp).map_err(io(kp))?;
    key::sync_dir(kp).map_err(io(kp))?;
    tracing::warn!(
        journal = %path.display(),
        events = legacy_events,
        "upgraded the journal to a keyed one (HMAC-SHA256): every line re-chained, once"
    );
    Ok(chain)
}

/// One legacy line with its previous hash replaced and its hash re-MACed.
fn rechain(chain: &Chain, text: &str, prev: &str) -> (String, String) {
    // `,"prev":"<64>","hash":"<64>"}` closes every line.
    let head = &text[..text.len() - PREV_FIELD_LEN - HASH_SUFFIX_LEN];
    let mut body = String::with_capacity(text.len());
    body.push_str(head);
    body.push_str(",\"prev\":\"");
    body.push_str(prev);
    body.push_str("\"}");
    let hash = chain.hash(body.as_bytes());
    let hash = String::from_utf8_lossy(&hash).into_owned();
    body.pop();
    body.push_str(",\"hash\":\"");
    body.push_str(&hash);
    body.push_str("\"}");
    (body, hash)
}
