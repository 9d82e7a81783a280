//! The settled requests a page is rendered from when it knows them only by
//! their compact records: an [`Entry`] for each one a section could show
//! or chart, and for all of them just their count by status.
//!
//! At 3.3 million settled requests, an entry per record (some 200 bytes
//! each, twice per render) took the daemon's RSS past 2 GB. A render at
//! `now` reads a record only if it could be:
//!
//! - among the last [`LAST_DECISIONS`] decisions or those needing a look
//!   (the newest of each kind among the records are kept);
//! - in the 7- and 30-day figures or the per-day chart: anything whose
//!   creation, decision or last change is within [`RECENT_DAYS`] of `now`
//!   (a superset of the 30 local days the chart shows).
//!
//! The sections select and filter as before, so the page is byte for byte
//! the one an entry per record gives (`tests::a_page_from_the_selected_records_is_the_page_from_every_record`).

use jiff::{SignedDuration, Timestamp};

use super::{Entry, LAST_DECISIONS, STATUSES, first_n};
use crate::request::Settled;
use crate::request::settled::Kind;

/// How far back a record counts as recent: 30 days of charts, plus a
/// margin for the local day boundaries and a changed zone offset.
const RECENT_DAYS: i64 = 32;

/// How many candidates a selection gathers before cutting them back to
/// [`LAST_DECISIONS`].
const GATHER: usize = 1024;

/// Status counts of the records that got no entry.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    pub by_status: [usize; STATUSES.len()],
    pub all: usize,
}

impl Tally {
    fn add(&mut self, status: &str) {
        self.all += 1;
        if let Some(i) = STATUSES.iter().position(|s| *s == status) {
            self.by_status[i] += 1;
        }
    }

    fn take(&mut self, status: &str) {
        self.all = self.all.saturating_sub(1);
        if let Some(i) = STATUSES.iter().position(|s| *s == status) {
            self.by_status[i] = self.by_status[i].saturating_sub(1);
        }
    }

    /// Both counts together.
    pub fn plus(&self, other: &Tally) -> Tally {
        let mut sum = self.clone();
        sum.all += other.all;
        for (n, m) in sum.by_status.iter_mut().zip(other.by_status) {
            *n += m;
        }
        sum
    }
}

/// Settled requests the page only counts: never shown one by one again
/// (too old for the charts, and past the newest 50 of each list), so the
/// daemon's page keeps of each just its id and status, 8 bytes, instead of
/// its 40-byte record (the page's thread used to keep a copy of every
/// record: 130 MB at 3.3M settled).
#[derive(Debug, Default)]
pub struct Counted {
    pub tally: Tally,
    /// The ids (low 48 bits) with their [`Kind`] in the top byte, by id.
    ids: Vec<u64>,
}

const ID_BITS: u64 = (1 << 48) - 1;

impl Counted {
    /// The requests of `records` that are not among `chosen` (sorted by id).
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Settled>, chosen: &[Settled]) -> Counted {
        let picked = |id: u64| chosen.binary_search_by_key(&id, |s| s.id).is_ok();
        let mut c = Counted::default();
        for s in records.into_iter().filter(|s| !picked(s.id)) {
            c.tally.add(s.kind.name());
            c.ids.push((s.id & ID_BITS) | (s.kind as u64) << 56);
        }
        c.ids.sort_unstable_by_key(|x| x & ID_BITS);
        c.ids.shrink_to_fit();
        c
    }

    /// Takes request `id` out of the counts: the page holds it in full now.
    pub fn take(&mut self, id: u64) {
        let Ok(i) = self.ids.binary_search_by_key(&id, |x| x & ID_BITS) else {
            return;
        };
        let packed = self.ids.remove(i);
        if let Some(kind) = Kind::from_u8((packed >> 56) as u8) {
            self.tally.take(kind.name());
        }
    }
}

/// The entries a render at `now` needs of `records` (those `whole` says the
/// page holds in full are left out), and the tally of the others.
pub fn select<'a>(
    records: impl IntoIterator<Item = &'a Settled>,
    whole: impl Fn(u64) -> bool,
    now: Timestamp,
) -> (Vec<Entry>, Tally) {
    let (chosen, tally) = choose(records, whole, now);
    (chosen.into_iter().map(Entry::from_settled).collect(), tally)
}

/// The records [`select`] makes entries of, sorted by id, and the tally
/// of the others.
pub fn choose<'a>(
    records: impl IntoIterator<Item = &'a Settled>,
    whole: impl Fn(u64) -> bool,
    now: Timestamp,
) -> (Vec<&'a Settled>, Tally) {
    let from = now - SignedDuration::from_secs(RECENT_DAYS * super::stats::DAY);
    let mut kept: Vec<&'a Settled> = Vec::new();
    let mut look: Vec<&'a Settled> = Vec::new();
    let mut decided: Vec<&'a Settled> = Vec::new();
    let mut tally = Tally::default();
    for s in records.into_iter().filter(|s| !whole(s.id)) {
        let recent = [Some(s.created()), s.decided(), Some(s.changed())]
            .into_iter()
            .flatten()
            .any(|t| t > from);
        if recent {
            kept.push(s);
            continue;
        }
        tally.add(s.kind.name());
        if matches!(s.kind, Kind::Failed | Kind::Tampered) {
            gather(&mut look, s, newest_change);
        }
        if s.kind.decided().is_some() || s.kind == Kind::Cancelled {
            gather(&mut decided, s, newest_decision);
        }
    }
    first_n(&mut look, LAST_DECISIONS, newest_change);
    first_n(&mut decided, LAST_DECISIONS, newest_decision);
    // A record in both lists (a failed one) must not count twice.
    let mut chosen: Vec<&Settled> = look.into_iter().chain(decided).collect();
    chosen.sort_unstable_by_key(|s| s.id);
    chosen.dedup_by_key(|s| s.id);
    for s in &chosen {
        tally.by_status[position(s.kind.name())] -= 1;
        tally.all -= 1;
    }
    kept.extend(chosen);
    kept.sort_unstable_by_key(|s| s.id);
    (kept, tally)
}

fn position(status: &str) -> usize {
    STATUSES
        .iter()
        .position(|s| *s == status)
        .expect("a settled kind's name is a status")
}

/// Adds `s` to `v`, cutting `v` back to the newest [`LAST_DECISIONS`]
/// when it has gathered [`GATHER`]: a pass over millions of records keeps
/// a few KB.
fn gather<'a>(
    v: &mut Vec<&'a Settled>,
    s: &'a Settled,
    order: fn(&&Settled, &&Settled) -> std::cmp::Ordering,
) {
    v.push(s);
    if v.len() >= GATHER {
        first_n(v, LAST_DECISIONS, order);
    }
}

/// Newest last change first, as the "Needs a look" list orders them (ids
/// are fixed-width hex, so their numbers order as their text does).
fn newest_change(a: &&Settled, b: &&Settled) -> std::cmp::Ordering {
    b.changed().cmp(&a.changed()).then_with(|| a.id.cmp(&b.id))
}

/// Newest decision first, as the decisions list orders them.
fn newest_decision(a: &&Settled, b: &&Settled) -> std::cmp::Ordering {
    let at = |s: &Settled| s.decided().unwrap_or_else(|| s.changed());
    at(b).cmp(&at(a)).then_with(|| a.id.cmp(&b.id))
}
