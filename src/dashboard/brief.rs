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

    /// Takes one request of `status` out of the counts.
    pub fn take(&mut self, status: &str) {
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

/// The entries a render at `now` needs of `records` (those `whole` says the
/// page holds in full are left out), and the tally of the others.
pub fn select(
    records: impl IntoIterator<Item = Settled>,
    whole: impl Fn(u64) -> bool,
    now: Timestamp,
) -> (Vec<Entry>, Tally) {
    let (chosen, tally) = choose(records, whole, now);
    (chosen.iter().map(Entry::from_settled).collect(), tally)
}

/// The records [`select`] makes entries of, sorted by id, and the tally
/// of the others.
pub fn choose(
    records: impl IntoIterator<Item = Settled>,
    whole: impl Fn(u64) -> bool,
    now: Timestamp,
) -> (Vec<Settled>, Tally) {
    let from = now - SignedDuration::from_secs(RECENT_DAYS * super::stats::DAY);
    let mut kept: Vec<Settled> = Vec::new();
    let mut look: Vec<Settled> = Vec::new();
    let mut decided: Vec<Settled> = Vec::new();
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
    let mut chosen: Vec<Settled> = look.into_iter().chain(decided).collect();
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
fn gather(v: &mut Vec<Settled>, s: Settled, order: fn(&Settled, &Settled) -> std::cmp::Ordering) {
    v.push(s);
    if v.len() >= GATHER {
        first_n(v, LAST_DECISIONS, order);
    }
}

/// Newest last change first, as the "Needs a look" list orders them (ids
/// are fixed-width hex, so their numbers order as their text does).
fn newest_change(a: &Settled, b: &Settled) -> std::cmp::Ordering {
    b.changed().cmp(&a.changed()).then_with(|| a.id.cmp(&b.id))
}

/// Newest decision first, as the decisions list orders them.
fn newest_decision(a: &Settled, b: &Settled) -> std::cmp::Ordering {
    let at = |s: &Settled| s.decided().unwrap_or_else(|| s.changed());
    at(b).cmp(&at(a)).then_with(|| a.id.cmp(&b.id))
}
