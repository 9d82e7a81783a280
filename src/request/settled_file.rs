//! Settled records on disk: the checkpoint's records kept in a file of
//! MACed blocks, looked up by `pread` (issue 12, point 1: 10,000,000
//! events in 30 MB). The state folder is hostile too, so no byte of it is
//! trusted unless its MAC was checked at the time of use: the fence table
//! (each block's first and last id, newest change, and MAC) is read once
//! and checked against the MAC the caller expects (the checkpoint's, which
//! is itself MACed); a lookup reads one block and checks it against its
//! fence before reading a record from it. No `mmap`: a file changed under
//! a mapping would change bytes already checked.
//!
//! Layout: the blocks (up to [`PER_BLOCK`] records of 40 bytes each, by
//! id), then the trailer (magic, counts, the binding, the fences), then the
//! trailer's length (8 bytes) and its MAC (64 hex digits).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::settled::{RECORD_BYTES, Settled};
use crate::journal::key::Chain;

/// Records per block: one lookup reads and MACs 20 KB.
pub const PER_BLOCK: usize = 512;
const MAGIC: &[u8; 16] = b"hitl settled v1\n";
/// Bytes of one fence in the trailer.
const FENCE_BYTES: usize = 8 + 8 + 4 + 4 + 64;
/// The trailer's length and MAC, at the end of the file.
const TAIL_BYTES: usize = 8 + 64;

#[derive(Debug, thiserror::Error)]
pub enum SettledFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: damaged settled index ({why}); the next start replays the journal")]
    Damaged { path: PathBuf, why: String },
    #[error("{path}: block {block} of the settled index is damaged (its MAC does not match)")]
    Block { path: PathBuf, block: usize },
    #[error("the journal has no key: a settled index needs one")]
    Unkeyed,
}

impl SettledFileError {
    /// The file it is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            SettledFileError::Io { path, .. }
            | SettledFileError::Damaged { path, .. }
            | SettledFileError::Block { path, .. } => Some(path),
            SettledFileError::Unkeyed => None,
        }
    }
}

/// One block's place and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fence {
    first: u64,
    last: u64,
    /// The newest `changed` of its records (Unix seconds).
    changed: u32,
    count: u32,
    mac: [u8; 64],
}

/// A settled index file, opened and its fences checked.
pub struct SettledFile {
    path: PathBuf,
    file: File,
    chain: Chain,
    bind: [u8; 32],
    fences: Vec<Fence>,
    len: u64,
    mac: [u8; 64],
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SettledFileError + '_ {
    move |source| SettledFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn block_mac(chain: &Chain, bind: &[u8; 32], index: usize, bytes: &[u8]) -> Option<[u8; 64]> {
    let mut mac = chain.mac()?;
    mac.update(b"block");
    mac.update(bind);
    mac.update(&(index as u64).to_le_bytes());
    mac.update(bytes);
    Some(mac.finish_hex())
}

/// Writes `records` (strictly ascending ids) to `path` (a temp file,
/// fsynced, renamed); `bind` ties it to what refers to it (the
/// checkpoint's journal head). Returns the trailer's MAC, which the
/// caller keeps (MACed) to open it with.
pub fn write(
    path: &Path,
    chain: &Chain,
    bind: [u8; 32],
    records: impl IntoIterator<Item = Settled>,
) -> Result<[u8; 64], SettledFileError> {
    let tmp = path.with_extension("tmp");
    // A temp left behind (or a symlink put there) is removed, never
    // written through.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&tmp)(e)),
        _ => {}
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let mut fences = Vec::new();
    let mut block = Vec::with_capacity(PER_BLOCK * RECORD_BYTES);
    let mut fence: Option<Fence> = None;
    let mut previous: Option<u64> = None;
    let mut total = 0u64;
    for s in records {
        if previous.is_some_and(|p| p >= s.id) {
            return Err(damaged(path, "records not in ascending id order"));
        }
        previous = Some(s.id);
        total += 1;
        let f = fence.get_or_insert(Fence {
            first: s.id,
            last: s.id,
            changed: 0,
            count: 0,
            mac: [0; 64],
        });
        f.last = s.id;
        f.changed = f.changed.max(s.changed);
        f.count += 1;
        block.extend_from_slice(&s.to_bytes());
        if f.count as usize == PER_BLOCK {
            seal(
                &mut out,
                chain,
                &bind,
                &mut fences,
                fence.take(),
                &mut block,
                &tmp,
            )?;
        }
    }
    seal(
        &mut out,
        chain,
        &bind,
        &mut fences,
        fence.take(),
        &mut block,
        &tmp,
    )?;
    let trailer = trailer(&bind, total, &fences);
    let mut mac = chain.mac().ok_or(SettledFileError::Unkeyed)?;
    mac.update(&trailer);
    let mac = mac.finish_hex();
    out.write_all(&trailer).map_err(io(&tmp))?;
    out.write_all(&(trailer.len() as u64).to_le_bytes())
        .map_err(io(&tmp))?;
    out.write_all(&mac).map_err(io(&tmp))?;
    let file = out.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(mac)
}

fn seal(
    out: &mut impl Write,
    chain: &Chain,
    bind: &[u8; 32],
    fences: &mut Vec<Fence>,
    fence: Option<Fence>,
    block: &mut Vec<u8>,
    path: &Path,
) -> Result<(), SettledFileError> {
    let Some(mut fence) = fence else {
        return Ok(());
    };
    fence.mac = block_mac(chain, bind, fences.len(), block).ok_or(SettledFileError::Unkeyed)?;
    out.write_all(block).map_err(io(path))?;
    block.clear();
    fences.push(fence);
    Ok(())
}

fn trailer(bind: &[u8; 32], total: u64, fences: &[Fence]) -> Vec<u8> {
    let mut t = Vec::with_capacity(16 + 8 + 8 + 32 + fences.len() * FENCE_BYTES);
    t.extend_from_slice(MAGIC);
    t.extend_from_slice(&total.to_le_bytes());
    t.extend_from_slice(&(fences.len() as u64).to_le_bytes());
    t.extend_from_slice(bind);
    for f in fences {
        t.extend_from_slice(&f.first.to_le_bytes());
        t.extend_from_slice(&f.last.to_le_bytes());
        t.extend_from_slice(&f.changed.to_le_bytes());
        t.extend_from_slice(&f.count.to_le_bytes());
        t.extend_from_slice(&f.mac);
    }
    t
}

fn damaged(path: &Path, why: &str) -> SettledFileError {
    SettledFileError::Damaged {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

#[path = "settled_file_read.rs"]
mod read;

#[cfg(test)]
#[path = "settled_file_tests.rs"]
mod tests;
