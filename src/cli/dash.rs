//! The journal as a person or an auditor reads it: `hitl dashboard`,
//! `hitl history` with its filters, and `hitl audit export`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::place::{Place, details, replay, resolve};
use super::{ExportFormat, HistoryArgs, output};
use crate::dashboard::{Entry, Tally};
use crate::journal::{self, Record};
use crate::machine::Machine;
use crate::request::settled::flag;
use crate::request::{Id, Request};

/// Writes `Approvals.md` at the vault root (atomically), or prints it.
pub(super) fn dashboard(p: &Place, stdout: bool) -> Result<()> {
    let m = replay(p)?;
    let mut failures = crate::dashboard::failures(&m);
    let undelivered = m
        .settled_index()
        .iter_all()
        .filter(|s| s.has(flag::UNDELIVERED));
    for s in undelivered {
        failures.extend(crate::dashboard::failures_of(&*details(p, &m, &s.id())?));
    }
    let tz = if super::style::utc() {
        TimeZone::UTC
    } else {
        TimeZone::system()
    };
    let now = Timestamp::now();
    let (entries, more) = entries(p, &m, now)?;
    let all: Vec<&Entry> = entries.iter().collect();
    let page = crate::dashboard::header(now, &tz)
        + &crate::dashboard::body_with(&all, &more, &failures, now, &tz);
    if stdout {
        print!("{page}");
        return Ok(());
    }
    let vault = p
        .vault
        .as_deref()
        .context("give the vault: hitl dashboard --vault DIR")?;
    super::setup::check_vault(vault)?;
    let path = vault.join(crate::dashboard::FILE_NAME);
    crate::vault::write_atomic(&path, &page)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The entries the page is rendered from: every request held in full, the
/// settled ones a section could show from their compact records (those it
/// lists one by one read in full from the journal), and the count of the
/// other settled ones.
fn entries(p: &Place, m: &Machine, now: Timestamp) -> Result<(Vec<Entry>, Tally)> {
    let mut entries: Vec<Entry> = m.requests().values().map(Entry::from).collect();
    let (brief, more) = crate::dashboard::select(m.settled_index().iter_all(), |_| false, now);
    entries.extend(brief);
    let listed: BTreeSet<Id> = crate::dashboard::listed(&entries.iter().collect::<Vec<_>>())
        .into_iter()
        .collect();
    for e in entries
        .iter_mut()
        .filter(|e| e.brief && listed.contains(&*e.id))
    {
        *e = Entry::from(&*details(p, m, &e.id)?);
    }
    Ok((entries, more))
}

pub(super) fn history(p: &Place, args: HistoryArgs) -> Result<()> {
    let now = Timestamp::now();
    let since = args.since.as_deref().map(|w| when(w, now)).transpose()?;
    let until = args.until.as_deref().map(|w| when(w, now)).transpose()?;
    let ids = requests(p, &args)?;
    let path = p.state_dir.join("journal.jsonl");
    let records = match &ids {
        Some(ids) if ids.len() == 1 => one_request(p, &path, ids.iter().next().expect("one"))?,
        _ => journal::read(&path)?,
    };
    let wanted = |r: &&Record| {
        let e = &r.event;
        ids.as_ref().is_none_or(|ids| ids.contains(&e.request))
            && since.is_none_or(|s| e.time >= s)
            && until.is_none_or(|u| e.time < u)
    };
    output::history(records.iter().filter(wanted), args.json);
    Ok(())
}

/// The lines of one request: only those between its first and last line
/// when the state knows where they are (a checkpoint's index), else all.
fn one_request(p: &Place, path: &Path, id: &str) -> Result<Vec<Record>> {
    let m = replay(p)?;
    let span = match m.settled(id) {
        Some(s) => Some((s.first, s.last)),
        None => m.span(id),
    };
    let Some((first, last)) = span else {
        return Ok(journal::read(path)?);
    };
    let mut reader = journal::Reader::open(path, journal::chain_for(path)?)?;
    Ok(reader.records(first, last, id)?)
}

/// The requests the filters pick, or `None` when no filter picks by request.
fn requests(p: &Place, args: &HistoryArgs) -> Result<Option<BTreeSet<Id>>> {
    let id = args.id.as_ref().or(args.id_flag.as_ref());
    if id.is_none() && args.action.is_none() && args.status.is_none() && args.decided_by.is_none() {
        return Ok(None);
    }
    let m = replay(p)?;
    let id = id.map(|prefix| resolve(&m, prefix)).transpose()?;
    if let (Some(id), None, None) = (&id, &args.action, &args.decided_by) {
        // One request: its status is in its record; no other is read.
        let status = args.status.map(|s| s.name());
        let matches = status.is_none_or(|s| m.status_name(id) == Some(s.as_str()));
        return Ok(Some(matches.then(|| id.clone()).into_iter().collect()));
    }
    let status = args.status.map(|s| s.name());
    let picked = |r: &&Request| {
        id.as_ref().is_none_or(|i| &r.id == i)
            && args.action.as_ref().is_none_or(|a| &r.sub.action == a)
            && status.as_deref().is_none_or(|s| r.status.name() == s)
            && args
                .decided_by
                .as_deref()
                .is_none_or(|who| r.decision().is_some_and(|d| decided_by(&d.by, who)))
    };
    let all = super::place::all_requests(p, &m, status.as_deref())?;
    Ok(Some(
        all.iter()
            .map(|r| &**r)
            .filter(picked)
            .map(|r| r.id.clone())
            .collect(),
    ))
}

/// `who` names the decider: exactly, or a CLI user by name alone
/// (`alice` for `cli:alice` and `cli:alice (agent: x)`).
fn decided_by(by: &str, who: &str) -> bool {
    by == who
        || by.strip_prefix("cli:").is_some_and(|rest| {
            rest == who
                || rest
                    .strip_prefix(who)
                    .is_some_and(|t| t.starts_with(" (agent: "))
        })
}

/// A point in time as a person types it: RFC 3339 (`2026-11-25T07:30:00Z`),
/// a local date-time or date (`2026-11-25T07:30`, `2026-11-25`), or a span
/// back from `now` (`90m`, `7d`, `2 days`).
fn when(text: &str, now: Timestamp) -> Result<Timestamp> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    let tz = TimeZone::system();
    if let Ok(dt) = t.parse::<jiff::civil::DateTime>() {
        return Ok(tz.to_timestamp(dt)?);
    }
    if let Ok(d) = t.parse::<jiff::civil::Date>() {
        return Ok(tz.to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))?);
    }
    if let Ok(span) = crate::config::parse_duration(t) {
        let span = jiff::SignedDuration::try_from(span)?;
        return Ok(now.checked_sub(span)?);
    }
    bail!(
        "`{text}` is not a time: give 2026-11-25, 2026-11-25T07:30, an RFC 3339 time, or a span back from now such as 7d or 2h"
    )
}

/// The whole trail: the journal's own lines (jsonl), or one CSV row per
/// event under a header row, quoted by the `csv` crate.
pub(super) fn export(journal_path: &Path, format: ExportFormat) -> Result<()> {
    let records = journal::read(journal_path)?;
    // The head, to compare with a copy kept elsewhere; on stderr so the
    // export itself stays the journal's lines (or rows).
    if let Some(last) = records.last() {
        let keyed = journal::chain_for(journal_path)?.is_keyed();
        eprintln!(
            "head: seq {}, {} {}",
            last.seq,
            if keyed {
                "mac"
            } else {
                "hash (unkeyed journal)"
            },
            last.hash
        );
    }
    match format {
        ExportFormat::Jsonl => {
            print!(
                "{}",
                std::fs::read_to_string(journal_path).unwrap_or_default()
            );
            Ok(())
        }
        ExportFormat::Csv => {
            let out = std::io::stdout().lock();
            write_csv(&records, out)
        }
    }
}

pub(super) fn write_csv(records: &[Record], out: impl std::io::Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "seq", "time", "request", "event", "actor", "details", "hash",
    ])?;
    for r in records {
        let e = &r.event;
        // The event's details as the journal holds them (JSON), in one cell.
        let details = serde_json::to_value(&e.kind)?
            .get("details")
            .map(|d| d.to_string())
            .unwrap_or_default();
        w.write_record([
            r.seq.to_string(),
            e.time.to_string(),
            e.request.to_string(),
            e.kind.name().to_string(),
            e.actor.to_string(),
            details,
            r.hash.clone(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{decided_by, when};
    use jiff::Timestamp;

    #[test]
    fn decided_by_matches_a_cli_user_by_name() {
        assert!(decided_by("cli:alice", "alice"));
        assert!(decided_by("cli:alice (agent: bot)", "alice"));
        assert!(decided_by("cli:alice", "cli:alice"));
        assert!(decided_by("vault", "vault"));
        assert!(!decided_by("cli:alicex", "alice"));
        assert!(!decided_by("cli:bob", "alice"));
    }

    #[test]
    fn since_reads_rfc3339_and_spans_back_from_now() {
        let now: Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
        assert_eq!(
            when("2026-11-25T07:30:00Z", now).unwrap().to_string(),
            "2026-11-25T07:30:00Z"
        );
        assert_eq!(when("2h", now).unwrap().to_string(), "2026-11-25T10:00:00Z");
        assert_eq!(when("7d", now).unwrap().to_string(), "2026-11-18T12:00:00Z");
        assert!(when("yesterday-ish", now).is_err());
    }
}
