//! Reading a settled index file: its fences once, then one block per
//! lookup, each checked against its fence's MAC before use.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use super::{
    FENCE_BYTES, Fence, MAGIC, PER_BLOCK, SettledFile, SettledFileError, TAIL_BYTES, block_mac,
    damaged, io,
};
use crate::journal::key::Chain;
use crate::request::settled::{RECORD_BYTES, Settled};

/// The most fences a file may claim: 2^32 records, far past any journal.
const MAX_FENCES: u64 = (1 << 32) / PER_BLOCK as u64;

impl SettledFile {
    /// Opens the file at `path` whose trailer MAC is `expect` (kept by
    /// the checkpoint) and binding `bind`; a file that doesn't match is
    /// refused, as is any part of it that does not read back.
    pub fn open(
        path: &Path,
        chain: &Chain,
        bind: [u8; 32],
        expect: &[u8; 64],
    ) -> Result<SettledFile, SettledFileError> {
        SettledFile::open_counted(path, chain, bind, expect, None)
    }

    /// As [`SettledFile::open`], for a file that must hold `records`
    /// records (the checkpoint says how many): its trailer's length is
    /// then known before any of it is read, so a file swapped for a huge
    /// one is refused before its claimed trailer is allocated.
    pub fn open_counted(
        path: &Path,
        chain: &Chain,
        bind: [u8; 32],
        expect: &[u8; 64],
        records: Option<u64>,
    ) -> Result<SettledFile, SettledFileError> {
        let file = open_regular(path)?;
        let size = file.metadata().map_err(io(path))?.len();
        let mut tail = [0u8; TAIL_BYTES];
        if size < TAIL_BYTES as u64 {
            return Err(damaged(path, "shorter than its trailer"));
        }
        file.read_exact_at(&mut tail, size - TAIL_BYTES as u64)
            .map_err(io(path))?;
        let len = u64::from_le_bytes(tail[..8].try_into().expect("8 bytes"));
        let fixed = (MAGIC.len() + 8 + 8 + 32) as u64;
        if len < fixed
            || len > size - TAIL_BYTES as u64
            || len > fixed + MAX_FENCES * FENCE_BYTES as u64
        {
            return Err(damaged(path, "a trailer length out of bounds"));
        }
        let fences = records.map(|n| n.div_ceil(PER_BLOCK as u64));
        if fences.is_some_and(|n| len != fixed + n * FENCE_BYTES as u64) {
            return Err(damaged(
                path,
                "a trailer not as long as its record count makes",
            ));
        }
        let mut trailer = vec![0u8; len as usize];
        let at = size - TAIL_BYTES as u64 - len;
        file.read_exact_at(&mut trailer, at).map_err(io(path))?;
        let mut mac = chain.mac().ok_or(SettledFileError::Unkeyed)?;
        mac.update(&trailer);
        // The MAC in the file must be the one expected, and be right.
        if tail[8..] != expect[..] || !mac.verify_hex(expect) {
            return Err(damaged(path, "its MAC does not match the checkpoint's"));
        }
        let (len, fences) = parse_trailer(path, &trailer, &bind, at)?;
        if records.is_some_and(|n| n != len) {
            return Err(damaged(path, "not as many records as its record count"));
        }
        Ok(SettledFile {
            path: path.to_path_buf(),
            file,
            chain: chain.clone(),
            bind,
            fences,
            len,
            mac: *expect,
        })
    }

    /// How many records it holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What it is bound to (the journal's head when it was written).
    pub fn bind(&self) -> &[u8; 32] {
        &self.bind
    }

    /// The trailer's MAC (what a checkpoint keeps to open it again).
    pub fn mac(&self) -> &[u8; 64] {
        &self.mac
    }

    /// The newest `changed` (Unix seconds) of any record: if that is
    /// archived, every record is.
    pub fn newest_change(&self) -> u32 {
        self.fences.iter().map(|f| f.changed).max().unwrap_or(0)
    }

    /// The record of id `id`, reading (and checking) one block.
    pub fn get(&self, id: u64) -> Result<Option<Settled>, SettledFileError> {
        let at = self.fences.partition_point(|f| f.first <= id);
        let Some(index) = at.checked_sub(1).filter(|i| id <= self.fences[*i].last) else {
            return Ok(None);
        };
        let block = self.block(index)?;
        Ok(block
            .binary_search_by_key(&id, |s| s.id)
            .ok()
            .map(|i| block[i]))
    }

    /// Block `index`'s records, read and checked now.
    pub fn block(&self, index: usize) -> Result<Vec<Settled>, SettledFileError> {
        let refuse = || SettledFileError::Block {
            path: self.path.clone(),
            block: index,
        };
        let fence = self.fences.get(index).ok_or_else(refuse)?;
        let mut bytes = vec![0u8; fence.count as usize * RECORD_BYTES];
        let offset = (index * PER_BLOCK * RECORD_BYTES) as u64;
        self.file
            .read_exact_at(&mut bytes, offset)
            .map_err(io(&self.path))?;
        let mac =
            block_mac(&self.chain, &self.bind, index, &bytes).ok_or(SettledFileError::Unkeyed)?;
        if !same(&mac, &fence.mac) {
            return Err(refuse());
        }
        let records: Option<Vec<Settled>> = bytes
            .chunks_exact(RECORD_BYTES)
            .map(Settled::from_bytes)
            .collect();
        records.ok_or_else(refuse)
    }

    /// Reads and checks every block (constant memory: one block at a
    /// time on each of a few threads): a start-up trusts nothing of the
    /// file it has not checked.
    pub fn verify(&self) -> Result<(), SettledFileError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let per = self.blocks().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let parts: Vec<_> = (0..self.blocks())
                .step_by(per)
                .map(|start| {
                    s.spawn(move || self.verify_blocks(start..(start + per).min(self.blocks())))
                })
                .collect();
            let mut out = Ok(());
            for p in parts {
                let done = p
                    .join()
                    .unwrap_or_else(|_| Err(damaged(&self.path, "a check failed")));
                out = out.and(done);
            }
            out
        })
    }

    /// Checks the blocks of `range`: their MACs, and ids ascending.
    fn verify_blocks(&self, range: std::ops::Range<usize>) -> Result<(), SettledFileError> {
        let mut previous = None;
        for index in range {
            for s in self.block(index)? {
                if previous.is_some_and(|p| p >= s.id) {
                    return Err(SettledFileError::Block {
                        path: self.path.clone(),
                        block: index,
                    });
                }
                previous = Some(s.id);
            }
        }
        Ok(())
    }

    /// The blocks that may hold ids from `lo` to `hi`, by their fences.
    pub fn blocks_between(&self, lo: u64, hi: u64) -> std::ops::Range<usize> {
        let start = self.fences.partition_point(|f| f.last < lo);
        let end = self.fences.partition_point(|f| f.first <= hi);
        start..end.max(start)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many blocks there are (for [`SettledFile::block`]).
    pub fn blocks(&self) -> usize {
        self.fences.len()
    }

    /// Whether block `index` holds a record changed at or after `since`
    /// (Unix seconds), by its fence alone.
    pub fn block_changed_since(&self, index: usize, since: u32) -> bool {
        self.fences.get(index).is_some_and(|f| f.changed >= since)
    }

    /// Every record in id order, block by block; stops at the first
    /// block that does not check (its error is the last item).
    pub fn iter(&self) -> impl Iterator<Item = Result<Settled, SettledFileError>> + '_ {
        (0..self.blocks()).flat_map(move |i| match self.block(i) {
            Ok(records) => records.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    }
}

impl std::fmt::Debug for SettledFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettledFile")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("blocks", &self.fences.len())
            .finish()
    }
}

/// Opens `path` only if it is a regular file, never following a symlink
/// and never waiting on a FIFO's writer (the state folder is hostile).
fn open_regular(path: &Path) -> Result<File, SettledFileError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(io(path))?;
    if !file.metadata().map_err(io(path))?.is_file() {
        return Err(damaged(path, "not a regular file"));
    }
    Ok(file)
}

/// Constant-time equality of two MACs.
fn same(a: &[u8; 64], b: &[u8; 64]) -> bool {
    a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The record count and fences of a trailer whose MAC checked; `blocks_end`
/// is where the blocks end (the trailer's start).
fn parse_trailer(
    path: &Path,
    t: &[u8],
    bind: &[u8; 32],
    blocks_end: u64,
) -> Result<(u64, Vec<Fence>), SettledFileError> {
    let u64_at = |i: usize| u64::from_le_bytes(t[i..i + 8].try_into().expect("8 bytes"));
    if &t[..16] != MAGIC || &t[32..64] != bind {
        return Err(damaged(path, "not the index of this checkpoint"));
    }
    let (total, n) = (u64_at(16), u64_at(24));
    if t.len() as u64 != 64 + n * FENCE_BYTES as u64 {
        return Err(damaged(path, "its fence count does not match its trailer"));
    }
    let mut fences = Vec::with_capacity(n as usize);
    for f in t[64..].chunks_exact(FENCE_BYTES) {
        let u32_at = |i: usize| u32::from_le_bytes(f[i..i + 4].try_into().expect("4 bytes"));
        let first = u64::from_le_bytes(f[..8].try_into().expect("8 bytes"));
        let last = u64::from_le_bytes(f[8..16].try_into().expect("8 bytes"));
        let mut mac = [0u8; 64];
        mac.copy_from_slice(&f[24..88]);
        fences.push(Fence {
            first,
            last,
            changed: u32_at(16),
            count: u32_at(20),
            mac,
        });
    }
    let full = |i: usize, f: &Fence| f.count as usize == PER_BLOCK || i + 1 == fences.len();
    let ordered = fences.windows(2).all(|w| w[0].last < w[1].first);
    let sane = fences.iter().enumerate().all(|(i, f)| {
        f.first <= f.last && f.count >= 1 && f.count as usize <= PER_BLOCK && full(i, f)
    });
    let counted: u64 = fences.iter().map(|f| u64::from(f.count)).sum();
    let bytes = counted * RECORD_BYTES as u64;
    if !ordered || !sane || counted != total || bytes != blocks_end {
        return Err(damaged(path, "its fences do not add up"));
    }
    Ok((total, fences))
}
