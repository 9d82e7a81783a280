//! The two Mermaid charts (Obsidian renders Mermaid natively): decisions
//! per day by outcome, and how long decisions took. Mermaid's xychart has
//! no legend, so each chart says in a line which series is which.

use std::fmt::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::Entry;
use super::stats::{DAY, waits};

const DAYS: i64 = 30;

/// The outcome a request counts under on the day it happened: a
/// decision, or its deadline passing.
fn outcome(e: &Entry) -> Option<(Timestamp, usize)> {
    match &e.decision {
        Some(d) => Some((d.at, if d.approved { 0 } else { 1 })),
        None if e.status == "expired" => Some((e.expires, 2)),
        None => None,
    }
}

pub(super) fn per_day(out: &mut String, all: &[&Entry], now: Timestamp, tz: &TimeZone) {
    let today = tz.to_datetime(now).date();
    let first = today
        .checked_sub(jiff::Span::new().days(DAYS - 1))
        .unwrap_or(today);
    let mut series = [[0u64; DAYS as usize]; 3];
    // Where each local day starts, looked up once: an outcome's day is a
    // binary search, not a time zone lookup per request.
    let starts: Vec<Timestamp> = (0..=DAYS)
        .filter_map(|i| first.checked_add(jiff::Span::new().days(i)).ok())
        .filter_map(|d| {
            tz.to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                .ok()
        })
        .collect();
    for e in all {
        let Some((at, which)) = outcome(e) else {
            continue;
        };
        if at > now {
            continue;
        }
        if let Some(i) = day_of(&starts, at) {
            series[which][i] += 1;
        }
    }
    let labels: Vec<String> = (0..DAYS)
        .map(|i| {
            let d = first
                .checked_add(jiff::Span::new().days(i))
                .unwrap_or(first);
            format!("\"{}\"", d.strftime("%m-%d"))
        })
        .collect();
    let top = (0..DAYS as usize)
        .map(|i| series.iter().map(|s| s[i]).max().unwrap_or(0))
        .max()
        .unwrap_or(0)
        .max(1);
    out.push_str("## Decisions per day, last 30 days\n\n");
    out.push_str("Bars: approved. Lines: rejected (first), expired (second).\n\n");
    out.push_str("```mermaid\nxychart-beta\n");
    let _ = writeln!(out, "    x-axis [{}]", labels.join(", "));
    let _ = writeln!(out, "    y-axis \"requests\" 0 --> {top}");
    for (kind, s) in ["bar", "line", "line"].iter().zip(&series) {
        let _ = writeln!(out, "    {kind} [{}]", join(s));
    }
    out.push_str("```\n\n");
}

/// Which of the days starting at `starts` holds `at`, if any.
fn day_of(starts: &[Timestamp], at: Timestamp) -> Option<usize> {
    let i = starts.partition_point(|s| *s <= at).checked_sub(1)?;
    (i + 1 < starts.len()).then_some(i)
}

/// Upper bounds (seconds, exclusive) of the time-to-decision buckets.
const BUCKETS: &[(i64, &str)] = &[
    (60, "< 1m"),
    (5 * 60, "1-5m"),
    (15 * 60, "5-15m"),
    (3600, "15m-1h"),
    (4 * 3600, "1-4h"),
    (DAY, "4-24h"),
    (i64::MAX, "> 1d"),
];

pub(super) fn time_to_decision(out: &mut String, all: &[&Entry], now: Timestamp) {
    let mut counts = [0u64; BUCKETS.len()];
    for w in waits(all, now, DAYS) {
        let i = BUCKETS
            .iter()
            .position(|(top, _)| w < *top)
            .unwrap_or(BUCKETS.len() - 1);
        counts[i] += 1;
    }
    let labels: Vec<String> = BUCKETS.iter().map(|(_, l)| format!("\"{l}\"")).collect();
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    out.push_str("## Time to a decision, last 30 days\n\n");
    out.push_str("Bars: decisions by a person, by how long they took from submission.\n\n");
    out.push_str("```mermaid\nxychart-beta\n");
    let _ = writeln!(out, "    x-axis [{}]", labels.join(", "));
    let _ = writeln!(out, "    y-axis \"decisions\" 0 --> {top}");
    let _ = writeln!(out, "    bar [{}]", join(&counts));
    out.push_str("```\n");
}

fn join(values: &[u64]) -> String {
    values
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
