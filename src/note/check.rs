//! Does a note still show what the daemon wrote where only the daemon
//! writes? Daemon-owned properties are compared by value (Obsidian's
//! property editor may re-quote or reorder them, or write a date with an
//! offset), the head by text, give or take trailing whitespace and blank
//! lines at its ends.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

use super::properties::{Owned, owned_properties};
use super::render::head_parts;
use super::{DAEMON_KEYS, NoteView, WARNING_MARK};
use crate::request::Request;

/// What differs between a note and the daemon's view of its request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Each difference, in words for the note and the journal.
    pub what: Vec<String>,
    /// The head starts with a warning hitl put there while the note was
    /// not readable as a request; not a change, but worth a rewrite.
    pub annotated: bool,
}

/// Compares the daemon-owned properties (but `status` when `with_status`
/// is false: it is a gesture while pending) and the head.
pub fn changes(req: &Request, view: &NoteView, tz: &TimeZone, with_status: bool) -> Changes {
    let mut what = property_changes(req, view, tz, with_status);
    let (head, annotated) = without_annotation(&view.head);
    what.extend(head_changes(req, &head));
    Changes { what, annotated }
}

fn property_changes(
    req: &Request,
    view: &NoteView,
    tz: &TimeZone,
    with_status: bool,
) -> Vec<String> {
    let owned = owned_properties(req);
    let mut out = Vec::new();
    for key in DAEMON_KEYS {
        if *key == "status" && !with_status {
            continue;
        }
        let want = owned.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let found = view.props.get(key).filter(|v| !v.is_null());
        let same = match (want, found) {
            (None, None) => true,
            (Some(w), Some(f)) => same_value(w, f, tz),
            _ => false,
        };
        if !same {
            out.push(match found {
                None => format!("property `{key}` was removed"),
                Some(f) if want.is_none() => format!("property `{key}` was added ({})", shown(f)),
                Some(f) => format!("property `{key}` was changed (to {})", shown(f)),
            });
        }
    }
    out
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn shown(v: &Value) -> String {
    match scalar_text(v) {
        Some(s) if s.chars().count() > 60 => {
            format!("`{}…`", s.chars().take(60).collect::<String>())
        }
        Some(s) => format!("`{s}`"),
        None if v.is_array() => "a list".into(),
        None => "a mapping".into(),
    }
}

fn same_value(want: &Owned, found: &Value, tz: &TimeZone) -> bool {
    let Some(text) = scalar_text(found) else {
        return false;
    };
    match want {
        Owned::Text(w) | Owned::Hash(w) => text == *w,
        Owned::Int(n) => text.trim() == n.to_string(),
        Owned::Instant(t) => same_instant(text.trim(), *t, tz),
    }
}

/// `text` denotes the instant `want` (to the second, as notes show it):
/// with an offset it is compared as an instant, without one as the local
/// wall-clock time the daemon wrote.
fn same_instant(text: &str, want: Timestamp, tz: &TimeZone) -> bool {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return ts.as_second() == want.as_second();
    }
    let Ok(dt) = text.parse::<jiff::civil::DateTime>() else {
        return false;
    };
    let local = tz.to_datetime(Timestamp::from_second(want.as_second()).unwrap_or(want));
    dt == local
}

/// The head without a leading callout hitl adds to a note it can't read.
fn without_annotation(head: &[String]) -> (Vec<&str>, bool) {
    let mut lines: Vec<&str> = head.iter().map(|l| l.trim_end()).collect();
    while lines.first().is_some_and(|l| l.is_empty()) {
        lines.remove(0);
    }
    let mut annotated = false;
    while lines.first().is_some_and(|l| l.starts_with(WARNING_MARK)) {
        annotated = true;
        lines.remove(0);
        while lines.first().is_some_and(|l| l.is_empty()) {
            lines.remove(0);
        }
    }
    (lines, annotated)
}

/// Lines without trailing whitespace, runs of blank lines as one, and no
/// blank lines at either end: whitespace that changes nothing shown.
fn trimmed(lines: Vec<&str>) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::with_capacity(lines.len());
    for line in lines {
        let line = line.trim_end();
        let blank_run = line.is_empty() && out.last().is_none_or(|l| l.is_empty());
        if !blank_run {
            out.push(line);
        }
    }
    if out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out
}

/// How the head differs from the daemon's, part by part; empty when it
/// doesn't.
fn head_changes(req: &Request, found: &[&str]) -> Vec<String> {
    let parts = head_parts(req);
    let expected: String = parts
        .iter()
        .map(|(_, p)| p.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let found = trimmed(found.to_vec());
    let want = trimmed(expected.lines().collect());
    if want == found {
        return Vec::new();
    }
    let replaced = || {
        vec![format!(
            "the text above `## Decision` was replaced ({} lines instead of {})",
            found.len(),
            want.len()
        )]
    };
    // Describing part by part is bounded work for the engine.
    let mut budget = 1_000_000usize;
    let mut covered = vec![false; found.len()];
    let mut out = Vec::new();
    for (name, text) in &parts {
        let want: Vec<&str> = text.lines().map(str::trim_end).collect();
        match find_run(&found, &want, &covered, &mut budget) {
            Ok(Some(at)) => covered[at..at + want.len()].fill(true),
            Ok(None) => out.push(format!("the {name} was changed or removed")),
            Err(OverBudget) => return replaced(),
        }
    }
    let added: Vec<&str> = found
        .iter()
        .zip(&covered)
        .filter(|(l, c)| !**c && !l.is_empty())
        .map(|(l, _)| *l)
        .collect();
    if let Some(first) = added.first() {
        let first: String = first.chars().take(60).collect();
        out.push(format!(
            "{} line(s) were added above `## Decision` (the first: `{first}`)",
            added.len()
        ));
    }
    if out.is_empty() {
        out.push("the text above `## Decision` was rearranged".into());
    }
    out
}

struct OverBudget;

/// The first place `want` appears whole in `found` on lines not yet
/// matched, spending at most `budget` line comparisons in all.
fn find_run(
    found: &[&str],
    want: &[&str],
    covered: &[bool],
    budget: &mut usize,
) -> Result<Option<usize>, OverBudget> {
    if want.is_empty() || want.len() > found.len() {
        return Ok(None);
    }
    for i in 0..=found.len() - want.len() {
        let same = found[i..]
            .iter()
            .zip(want)
            .take_while(|(f, w)| f == w)
            .count();
        *budget = budget.checked_sub(same + 1).ok_or(OverBudget)?;
        if same == want.len() && !covered[i..i + want.len()].contains(&true) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_compare_by_the_instant_they_denote() {
        let tz = TimeZone::fixed(jiff::tz::offset(3));
        let want: Timestamp = "2027-01-15T08:01:00.25Z".parse().unwrap();
        for same in [
            "2027-01-15T11:01:00",
            "2027-01-15T11:01",
            "2027-01-15 11:01:00",
            "2027-01-15T08:01:00Z",
            "2027-01-15T09:01:00+01:00",
        ] {
            assert!(same_instant(same, want, &tz), "{same}");
        }
        for other in [
            "2027-01-15T08:01:00",
            "2027-01-15T11:02:00",
            "2027-01-15",
            "soon",
        ] {
            assert!(!same_instant(other, want, &tz), "{other}");
        }
    }

    #[test]
    fn describing_a_changed_head_is_bounded_work() {
        let found = vec!["a"; 2000];
        let mut want = vec!["a"; 1000];
        want.push("b");
        let covered = vec![false; found.len()];
        let mut budget = 10_000;
        assert!(find_run(&found, &want, &covered, &mut budget).is_err());
        let mut budget = 10_000;
        assert_eq!(
            find_run(&found, &want[..3], &covered, &mut budget).ok(),
            Some(Some(0))
        );
    }

    #[test]
    fn whitespace_that_shows_nothing_is_not_a_change() {
        assert_eq!(
            trimmed(vec!["", "# T  ", "", "", "> x", "", ""]),
            ["# T", "", "> x"]
        );
    }
}
