//! Golden file for the dashboard, with fixed times and ids.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;

use super::{Entry, NotifyFailure, render};
use crate::request::{Decision, Ended, Request, RunResult, Source, Status, Submission};
use crate::rules::Risk;

const NOW: i64 = 1_795_000_000;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(NOW + secs).unwrap()
}

fn request(id: &str, created: i64, summary: &str) -> Request {
    let payload = json!({"amount": 10});
    Request {
        id: id.into(),
        sub: Box::new(Submission {
            action: "payment".into(),
            payload_sha256: crate::payload::sha256(&payload),
            payload: payload.into(),
            summary: summary.into(),
            rationale: None,
            requested_by: "cli:agent".into(),
            created: t(created),
            expires: t(created + 3600),
            risk: Risk::Medium,
            signals: vec![],
            rule: None,
            file_name: format!("payment-{id}.md"),
            source: Source::Cli,
            drop_in_sha256: None,
            notify_requester: None,
            key: None,
        }),
        status: Status::Pending,
        attempts: 0,
        history: vec![(t(created), "submitted by cli:agent".into())],
        reminded: false,
        undelivered: Vec::new(),
        codes_delivered: Vec::new(),
        last_record_only: false,
    }
}

fn decided(mut r: Request, after: i64, approved: bool, by: &str, reason: Option<&str>) -> Request {
    let decision = Decision {
        approved,
        by: by.into(),
        at: r.sub.created + jiff::SignedDuration::from_secs(after),
        reason: reason.map(String::from),
    };
    r.history.push((decision.at, format!("decided by {by}")));
    r.status = if approved {
        Status::Approved { decision }
    } else {
        Status::Rejected { decision }
    };
    r
}

fn vault() -> Vec<Request> {
    let day = 86_400;
    let mut failed = decided(
        request("f00000000001", -2 * day, "Nightly sync"),
        30,
        true,
        "vault",
        None,
    );
    let Status::Approved { decision } = failed.status.clone() else {
        unreachable!()
    };
    failed.status = Status::Failed(Box::new(Ended {
        decision,
        executed_at: Some(t(-2 * day + 40)),
        run: RunResult {
            exit_code: Some(2),
            duration_ms: 5,
            output: String::new(),
            truncated: false,
            error: None,
        },
    }));
    failed
        .history
        .push((t(-2 * day + 40), "failed: exit code 2".into()));
    let mut expired = request("e00000000001", -3 * day, "Old refund");
    expired.status = Status::Expired;
    let mut cancelled = request("c00000000001", -2 * day, "Duplicate payment");
    cancelled.status = Status::Cancelled {
        by: "cli:agent".into(),
        at: t(-2 * day + 300),
        reason: Some("sent twice".into()),
    };
    vec![
        request("a00000000002", -600, "Pay <b>vendor</b> | [[Secret]] %%x%%"),
        request("a00000000001", -60, "Pay invoice 1234"),
        decided(
            request("d00000000001", -day, "Refund A"),
            120,
            true,
            "cli:alice",
            Some("checked"),
        ),
        decided(
            request("d00000000002", -10 * day, "Delete | prod"),
            7200,
            false,
            "vault",
            Some("not *today*"),
        ),
        decided(
            request("d00000000003", -5, "Tiny payment"),
            0,
            true,
            "rule:small-payment",
            None,
        ),
        failed,
        expired,
        cancelled,
    ]
}

/// The page for `reqs` at `t(0)`, in UTC.
fn page(reqs: &[Request]) -> String {
    let entries: Vec<Entry> = reqs.iter().map(Entry::from).collect();
    render(&entries, &[], t(0), &TimeZone::UTC)
}

fn undelivered() -> NotifyFailure {
    NotifyFailure {
        request: "a00000000001".into(),
        stem: Some("payment-a00000000001".into()),
        at: t(-30),
        channel: "phone".into(),
        event: "pending".into(),
        attempts: 5,
        error: "HTTP 503 | <b>down</b>".into(),
    }
}

#[test]
fn dashboard() {
    let entries: Vec<Entry> = vault().iter().map(Entry::from).collect();
    insta::assert_snapshot!(render(&entries, &[undelivered()], t(0), &TimeZone::UTC));
}

#[test]
fn an_unchanged_state_renders_the_same_body_within_a_minute() {
    let entries: Vec<Entry> = vault().iter().map(Entry::from).collect();
    let all: Vec<&Entry> = entries.iter().collect();
    let body = |at| super::body(&all, &[], at, &TimeZone::UTC);
    // No age or time left crosses a whole minute between these two.
    assert_eq!(body(t(10)), body(t(20)), "seconds don't show");
    assert_ne!(body(t(10)), body(t(70)), "ages move by the minute");
}

#[test]
fn undelivered_notifications_need_a_look() {
    let entries: Vec<Entry> = vault().iter().map(Entry::from).collect();
    let page = render(&entries, &[undelivered()], t(0), &TimeZone::UTC);
    let row = page.lines().find(|l| l.contains("| phone |")).unwrap();
    assert!(
        row.contains("[[payment-a00000000001]]") && row.contains("| 5 |"),
        "{row}"
    );
    assert!(!row.contains("<b>"), "{row}");
}

#[test]
fn empty_dashboard() {
    insta::assert_snapshot!(page(&[]));
}

#[test]
fn requester_text_cannot_break_the_table_or_hide_rows() {
    let page = page(&vault());
    let row = page.lines().find(|l| l.contains("a00000000002")).unwrap();
    assert_eq!(row.matches('|').count(), 8, "{row}");
    assert!(!page.contains("[[Secret]]") && !page.contains("%%x%%") && !page.contains("<b>"));
}

#[test]
fn open_requests_are_sorted_by_deadline() {
    let page = page(&vault());
    let first = page.find("payment-a00000000002").unwrap();
    let second = page.find("payment-a00000000001").unwrap();
    assert!(first < second);
}

#[test]
fn only_the_last_50_decisions_are_listed_newest_first() {
    let reqs: Vec<Request> = (0..120)
        .map(|i| {
            decided(
                request(&format!("d{i:011}"), -10_000 + i * 10, "x"),
                5,
                true,
                "vault",
                None,
            )
        })
        .collect();
    let page = page(&reqs);
    let listed: Vec<&str> = page
        .lines()
        .filter(|l| l.contains("| approved | vault |"))
        .collect();
    assert_eq!(listed.len(), 50);
    assert!(listed[0].contains("payment-d00000000119"), "{}", listed[0]);
    assert!(
        listed[49].contains("payment-d00000000070"),
        "{}",
        listed[49]
    );
}

/// Settled records of every kind created over 400 days ending `gap` days
/// before `t(0)`, from a small deterministic generator.
fn records(seed: u64, n: u64, gap: i64) -> Vec<crate::request::Settled> {
    use crate::request::settled::Kind;
    let kinds = [
        Kind::Approved,
        Kind::Executed,
        Kind::Failed,
        Kind::Rejected,
        Kind::Expired,
        Kind::Cancelled,
        Kind::Tampered,
    ];
    let mut x = seed;
    let mut next = move |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    let mut out: Vec<_> = (0..n)
        .map(|i| {
            let kind = kinds[next(7) as usize];
            let created = -(gap * 86_400 + next(400 * 86_400) as i64);
            let decided = created + next(7_200) as i64;
            let changed = decided + next(600) as i64;
            crate::request::Settled::new(0xa000_0000_0000 + i * 7, 0, 0, kind, Risk::Low, 0).at(
                t(created),
                kind.decided().map(|_| t(decided)),
                t(changed),
            )
        })
        .collect();
    out.sort_unstable_by_key(|s| s.id);
    out
}

#[test]
fn a_page_from_the_selected_records_is_the_page_from_every_record() {
    let open = [request("b00000000001", -600, "open one")];
    // Some recent records, then none (the lists come from old ones).
    for (seed, gap) in [(1, 0), (2, 0), (3, 40), (4, 40)] {
        let records = records(seed, 3_000, gap);
        let every: Vec<Entry> = open
            .iter()
            .map(Entry::from)
            .chain(records.iter().map(Entry::from_settled))
            .collect();
        let every: Vec<&Entry> = every.iter().collect();
        let (chosen, more) = super::select(records.iter().copied(), |_| false, t(0));
        assert!(
            chosen.len() < 400,
            "{} of 3,000 records got an entry",
            chosen.len()
        );
        assert_eq!(more.all + chosen.len(), 3_000);
        let open: Vec<Entry> = open.iter().map(Entry::from).collect();
        let some: Vec<&Entry> = open.iter().chain(&chosen).collect();
        let utc = TimeZone::UTC;
        assert_eq!(
            super::body_with(&some, &more, &[], t(0), &utc),
            super::body(&every, &[], t(0), &utc),
            "seed {seed}, gap {gap}"
        );
    }
}

#[test]
fn a_counted_request_held_in_full_again_is_not_counted_twice() {
    let records = records(5, 2_000, 40);
    let every: Vec<Entry> = records.iter().map(Entry::from_settled).collect();
    let every: Vec<&Entry> = every.iter().collect();
    let (chosen, tally) = super::choose(records.iter().copied(), |_| false, t(0));
    // The oldest request changes again (a late notification): the engine
    // says it holds it in full again, twice over; and one the page lists
    // already is held too. The counts must not move.
    let oldest = *records.iter().min_by_key(|s| s.changed()).unwrap();
    assert!(
        chosen.iter().all(|s| s.id != oldest.id),
        "it is only counted"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(super::FILE_NAME);
    let load = {
        let chosen = chosen.clone();
        move || super::SettledEntries {
            records: chosen,
            tally,
            details: None,
            failures: Vec::new(),
        }
    };
    let pace = super::Pace {
        min_gap: std::time::Duration::ZERO,
        refresh: std::time::Duration::from_secs(3600),
    };
    let utc = TimeZone::UTC;
    let mut w = super::Writer::spawn_with(
        path.clone(),
        Vec::new(),
        Box::new(load),
        || t(0),
        utc.clone(),
        pace,
    );
    w.held(oldest);
    w.held(oldest);
    w.held(chosen[0]);
    w.finish();
    let page = std::fs::read_to_string(&path).unwrap();
    let whole = super::header(t(0), &utc) + &super::body(&every, &[], t(0), &utc);
    assert_eq!(page, whole);
}
