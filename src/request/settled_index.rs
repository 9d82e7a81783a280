//! The settled requests by id, HOT and COLD (issue 12, point 2): in
//! memory, the records whose Done notes the daemon still tracks (not
//! archived, `done_notes_kept`: bounded by the retention window) as a
//! vector sorted by id plus a small ordered map of the recent ones; on
//! disk, the archived ones, in the checkpoint's settled file
//! ([`SettledFile`]), each block checked at every use.
//!
//! Hot wins over cold: a record changed after it went cold (a late
//! notification line, its filing) is put back hot, and one taken out (its
//! request held in full again) leaves a tombstone (a small set of ids)
//! while the file still holds it. A checkpoint moves the archived hot
//! records and the tombstones into a new file (`engine/checkpoint_cold.rs`).
//! A block that fails its check at use never yields an answer: its
//! [`OnDamage`] stops the process (the daemon, after removing the
//! checkpoint so the next start replays the whole journal).

use std::collections::{BTreeMap, BTreeSet};
use std::iter::Peekable;
use std::sync::Arc;

use super::settled::{Settled, id_number};
use super::settled_file::{SettledFile, SettledFileError};

/// What a process does when a cold block fails its check (or can't be
/// read) at use: it never returns, so no answer is made from it.
pub type OnDamage = fn(&SettledFileError) -> !;

/// The opened settled file and what to do if a block fails its check.
#[derive(Clone)]
pub struct Cold {
    file: Arc<SettledFile>,
    on_damage: OnDamage,
}

impl std::fmt::Debug for Cold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.file.fmt(f)
    }
}

impl Cold {
    pub fn new(file: SettledFile, on_damage: OnDamage) -> Cold {
        Cold {
            file: Arc::new(file),
            on_damage,
        }
    }

    pub fn file(&self) -> &SettledFile {
        &self.file
    }

    fn get(&self, id: u64) -> Option<Settled> {
        (self.file.get(id)).unwrap_or_else(|e| (self.on_damage)(&e))
    }

    /// Its records from `lo` to `hi`, in id order, block by block.
    fn range(&self, lo: u64, hi: u64) -> ColdIter {
        ColdIter {
            blocks: self.file.blocks_between(lo, hi),
            cold: self.clone(),
            records: Vec::new().into_iter(),
            lo,
            hi,
        }
    }

    fn all(&self) -> ColdIter {
        self.range(0, u64::MAX)
    }
}

/// A cold file's records in id order; owns what it reads.
pub struct ColdIter {
    cold: Cold,
    blocks: std::ops::Range<usize>,
    records: std::vec::IntoIter<Settled>,
    lo: u64,
    hi: u64,
}

impl Iterator for ColdIter {
    type Item = Settled;

    fn next(&mut self) -> Option<Settled> {
        loop {
            if let Some(s) = self.records.find(|s| s.id >= self.lo && s.id <= self.hi) {
                return Some(s);
            }
            let index = self.blocks.next()?;
            let block = (self.cold.file.block(index)).unwrap_or_else(|e| (self.cold.on_damage)(&e));
            self.records = block.into_iter();
        }
    }
}

/// Two streams sorted by id, side by side: each id once, with the record
/// of either or both.
struct Union<A: Iterator<Item = Settled>, B: Iterator<Item = Settled>> {
    a: Peekable<A>,
    b: Peekable<B>,
}

fn union<A, B>(a: A, b: B) -> Union<A::IntoIter, B::IntoIter>
where
    A: IntoIterator<Item = Settled>,
    B: IntoIterator<Item = Settled>,
{
    Union {
        a: a.into_iter().peekable(),
        b: b.into_iter().peekable(),
    }
}

impl<A: Iterator<Item = Settled>, B: Iterator<Item = Settled>> Iterator for Union<A, B> {
    type Item = (Option<Settled>, Option<Settled>);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.a.peek(), self.b.peek()) {
            (None, None) => None,
            (Some(x), Some(y)) if x.id == y.id => Some((self.a.next(), self.b.next())),
            (Some(x), Some(y)) if x.id > y.id => Some((None, self.b.next())),
            (Some(_), _) => Some((self.a.next(), None)),
            (None, Some(_)) => Some((None, self.b.next())),
        }
    }
}

/// Hot over cold, tombstones taking out cold ones.
fn visible(gone: &BTreeSet<u64>) -> impl Fn((Option<Settled>, Option<Settled>)) -> Option<Settled> {
    move |(hot, cold)| hot.or(cold.filter(|c| !gone.contains(&c.id)))
}

/// The settled requests by id.
#[derive(Debug, Default, Clone)]
pub struct SettledIndex {
    /// Hot, sorted by id.
    base: Vec<Settled>,
    /// Hot, settled (or warmed up) since the last [`SettledIndex::merge`].
    recent: BTreeMap<u64, Settled>,
    /// The archived ones, on disk.
    cold: Option<Cold>,
    /// Ids taken out that the cold file still holds.
    gone: BTreeSet<u64>,
}

impl SettledIndex {
    /// An index of hot `records` in any order; `None` if an id repeats.
    pub fn from_records(mut records: Vec<Settled>) -> Option<SettledIndex> {
        records.sort_unstable_by_key(|s| s.id);
        if records.windows(2).any(|w| w[0].id == w[1].id) {
            return None;
        }
        records.shrink_to_fit();
        Some(SettledIndex {
            base: records,
            ..SettledIndex::default()
        })
    }

    /// The index with `cold` on disk and `gone` taken out of it.
    pub fn with_cold(self, cold: Option<Cold>, gone: BTreeSet<u64>) -> SettledIndex {
        SettledIndex { cold, gone, ..self }
    }

    /// How many records are held in memory.
    pub fn hot_len(&self) -> usize {
        self.base.len() + self.recent.len()
    }

    pub fn cold(&self) -> Option<&Cold> {
        self.cold.as_ref()
    }

    /// The ids taken out that the cold file still holds.
    pub fn tombstones(&self) -> &BTreeSet<u64> {
        &self.gone
    }

    /// Whether it holds no record at all.
    pub fn is_empty(&self) -> bool {
        self.iter_all().next().is_none()
    }

    fn get_hot(&self, n: u64) -> Option<&Settled> {
        match self.base.binary_search_by_key(&n, |s| s.id) {
            Ok(i) => Some(&self.base[i]),
            Err(_) => self.recent.get(&n),
        }
    }

    fn get_number(&self, n: u64) -> Option<Settled> {
        if let Some(s) = self.get_hot(n) {
            return Some(*s);
        }
        if self.gone.contains(&n) {
            return None;
        }
        self.cold.as_ref()?.get(n)
    }

    /// The record of `id`: hot, else (unless taken out) cold.
    pub fn get(&self, id: &str) -> Option<Settled> {
        self.get_number(id_number(id)?)
    }

    /// Changes the record of `id` by `change`; a cold one is copied,
    /// changed and put back hot. `None` if there is none.
    pub fn update<R>(&mut self, id: &str, change: impl FnOnce(&mut Settled) -> R) -> Option<R> {
        let n = id_number(id)?;
        if let Ok(i) = self.base.binary_search_by_key(&n, |s| s.id) {
            return Some(change(&mut self.base[i]));
        }
        if let Some(s) = self.recent.get_mut(&n) {
            return Some(change(s));
        }
        let mut s = self.get_number(n)?;
        let out = change(&mut s);
        self.insert(s);
        Some(out)
    }

    /// Puts `s` in, hot.
    pub fn insert(&mut self, s: Settled) {
        self.gone.remove(&s.id);
        match self.base.binary_search_by_key(&s.id, |r| r.id) {
            Ok(i) => self.base[i] = s,
            Err(_) => {
                self.recent.insert(s.id, s);
            }
        }
    }

    /// Takes a record out (its request is held in full again).
    pub fn remove(&mut self, id: &str) -> Option<Settled> {
        let n = id_number(id)?;
        let hot = match self.base.binary_search_by_key(&n, |s| s.id) {
            Ok(i) => Some(self.base.remove(i)),
            Err(_) => self.recent.remove(&n),
        };
        let cold = match &self.cold {
            Some(c) if !self.gone.contains(&n) => c.get(n),
            _ => None,
        };
        if cold.is_some() {
            self.gone.insert(n);
        }
        hot.or(cold)
    }

    /// Moves the recent records into the sorted vector.
    pub fn merge(&mut self) {
        if self.recent.is_empty() {
            return;
        }
        let recent = std::mem::take(&mut self.recent);
        let mut merged = Vec::with_capacity(self.base.len() + recent.len());
        let mut old = std::mem::take(&mut self.base).into_iter().peekable();
        for s in recent.into_values() {
            while let Some(o) = old.next_if(|o| o.id < s.id) {
                merged.push(o);
            }
            merged.push(s);
        }
        merged.extend(old);
        self.base = merged;
    }

    /// The records held in memory (not archived when they went there),
    /// in no particular order.
    pub fn iter_hot(&self) -> impl Iterator<Item = &Settled> {
        self.base.iter().chain(self.recent.values())
    }

    /// The hot records in id order.
    fn hot_sorted(&self) -> impl Iterator<Item = Settled> + '_ {
        let (base, recent) = (self.base.iter().copied(), self.recent.values().copied());
        union(base, recent).filter_map(|(a, b)| a.or(b))
    }

    /// Every record, hot and cold, in id order.
    pub fn iter_all(&self) -> impl Iterator<Item = Settled> + '_ {
        let cold = self.cold.iter().flat_map(Cold::all);
        union(self.hot_sorted(), cold).filter_map(visible(&self.gone))
    }

    /// Every record, hot over cold, each with the cold one it shadows and
    /// whether a tombstone takes that out: what a new cold file is made of.
    pub fn iter_sides(&self) -> impl Iterator<Item = (Option<Settled>, Option<Settled>)> + '_ {
        let cold = self.cold.iter().flat_map(Cold::all);
        union(self.hot_sorted(), cold).map(|(h, c)| (h, c.filter(|c| !self.gone.contains(&c.id))))
    }

    /// A copy to read on another thread: the hot records and tombstones,
    /// and the cold file shared.
    pub fn snapshot(&self) -> SettledSnapshot {
        SettledSnapshot {
            hot: self.hot_sorted().collect(),
            cold: self.cold.clone(),
            gone: self.gone.clone(),
        }
    }

    /// Replaces the cold file with `cold`, made of the old one and the hot
    /// records `moved` says: those leave memory, and the tombstones go.
    pub fn went_cold(&mut self, cold: Cold, moved: impl Fn(&Settled) -> bool) {
        self.merge();
        self.base.retain(|s| !moved(s));
        self.base.shrink_to_fit();
        self.gone.clear();
        self.cold = Some(cold);
    }

    /// The ids that start with `prefix` (hex digits), up to `limit` of them.
    pub fn ids_starting(&self, prefix: &str, limit: usize) -> Vec<String> {
        let Some((lo, hi)) = prefix_range(prefix) else {
            return Vec::new();
        };
        let start = self.base.partition_point(|s| s.id < lo);
        let base = self.base[start..]
            .iter()
            .take_while(|s| s.id <= hi)
            .copied();
        let recent = self.recent.range(lo..=hi).map(|(_, s)| *s);
        let hot = union(base, recent).filter_map(|(a, b)| a.or(b));
        let cold = self.cold.iter().flat_map(|c| c.range(lo, hi));
        let all = union(hot, cold).filter_map(visible(&self.gone));
        all.take(limit).map(|s| s.id()).collect()
    }
}

/// The settled records at a moment, to read on another thread.
pub struct SettledSnapshot {
    hot: Vec<Settled>,
    cold: Option<Cold>,
    gone: BTreeSet<u64>,
}

impl IntoIterator for SettledSnapshot {
    type Item = Settled;
    type IntoIter = Box<dyn Iterator<Item = Settled> + Send>;

    /// Every record, by value, in id order.
    fn into_iter(self) -> Self::IntoIter {
        let SettledSnapshot { hot, cold, gone } = self;
        let cold = cold.into_iter().flat_map(|c| c.all());
        Box::new(
            union(hot, cold).filter_map(move |(h, c)| h.or(c.filter(|c| !gone.contains(&c.id)))),
        )
    }
}

/// The smallest and largest id a hex prefix of at most 12 digits covers.
fn prefix_range(prefix: &str) -> Option<(u64, u64)> {
    if prefix.is_empty()
        || prefix.len() > 12
        || !prefix
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let n = u64::from_str_radix(prefix, 16).ok()?;
    let shift = 4 * (12 - prefix.len() as u32);
    Some((n << shift, (n << shift) | ((1u64 << shift) - 1)))
}

#[cfg(test)]
#[path = "settled_index_tests.rs"]
mod tests;
