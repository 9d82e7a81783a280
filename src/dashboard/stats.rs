//! Time to a decision: from submission to a person's decision. Rules'
//! decisions (at submission, in no time) are left out: they would only
//! pull the figures towards zero.

use std::fmt::Write;

use jiff::{SignedDuration, Timestamp};

use super::Entry;
use super::span;

pub(super) const DAY: i64 = 86_400;

/// Seconds from submission to a person's decision, for the decisions
/// taken in the `days` before `now`.
pub(super) fn waits(all: &[&Entry], now: Timestamp, days: i64) -> Vec<i64> {
    let from = now - SignedDuration::from_secs(days * DAY);
    all.iter()
        .filter_map(|e| {
            let d = e.decision.as_ref()?;
            let by_person = !d.by.starts_with("rule:");
            (by_person && d.at > from && d.at <= now)
                .then(|| d.at.duration_since(e.created).as_secs().max(0))
        })
        .collect()
}

/// The nearest-rank percentile `p` (0-100) of `values`.
pub(super) fn percentile(values: &mut [i64], p: usize) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (p * values.len()).div_ceil(100).max(1);
    Some(values[rank - 1])
}

pub(super) fn time_to_decision(out: &mut String, all: &[&Entry], now: Timestamp) {
    out.push_str("## Time to a decision\n\n");
    out.push_str("| Window | Decisions | Median | p90 |\n|---|---|---|---|\n");
    for days in [7, 30] {
        let mut w = waits(all, now, days);
        let shown = |v: Option<i64>| v.map(span).unwrap_or_else(|| "-".into());
        let median = shown(percentile(&mut w, 50));
        let p90 = shown(percentile(&mut w, 90));
        let _ = writeln!(out, "| last {days} days | {} | {median} | {p90} |", w.len());
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<i64> = (1..=10).rev().collect();
        assert_eq!(percentile(&mut v, 50), Some(5));
        assert_eq!(percentile(&mut v, 90), Some(9));
        assert_eq!(percentile(&mut [7], 90), Some(7));
        assert_eq!(percentile(&mut [], 50), None);
        assert_eq!(percentile(&mut [1, 100], 50), Some(1));
    }
}
