//! The compact record: its bytes round trip, its index finds by id and
//! prefix, and what it says matches the full request it came from.

use jiff::Timestamp;

use super::*;
use crate::request::{Decision, Request, Source, Status, Submission};

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}

fn record(id: u64, kind: Kind) -> Settled {
    Settled::new(id, id * 100, id * 100 + 50, kind, Risk::High, flag::KEYED).at(
        at(1),
        Some(at(2)),
        at(3),
    )
}

#[test]
fn a_compact_record_is_40_bytes_and_round_trips() {
    assert!(std::mem::size_of::<Settled>() <= RECORD_BYTES);
    for kind in [
        Kind::Approved,
        Kind::Executed,
        Kind::Failed,
        Kind::Rejected,
        Kind::Expired,
        Kind::Cancelled,
        Kind::Tampered,
    ] {
        let s = record(0xabc123def456, kind);
        assert_eq!(Settled::from_bytes(&s.to_bytes()), Some(s));
    }
    let mut bad = record(0xabc123def456, Kind::Failed).to_bytes();
    bad[36] = 99;
    assert_eq!(Settled::from_bytes(&bad), None, "no such kind");
}

#[test]
fn a_record_says_what_its_request_says() {
    let decision = Decision {
        approved: false,
        by: "cli:alice".into(),
        at: at(20),
        reason: Some("no".into()),
    };
    let r = Request {
        id: "e0000000002a".into(),
        sub: Box::new(Submission {
            action: "payment".into(),
            payload: serde_json::json!({"amount": 1}).into(),
            payload_sha256: "0".repeat(64),
            summary: "pay".into(),
            rationale: None,
            requested_by: "agent".into(),
            created: at(10),
            expires: at(99),
            risk: Risk::Medium,
            signals: vec![],
            rule: None,
            file_name: "pay.md".into(),
            source: Source::Inbox,
            drop_in_sha256: None,
            notify_requester: None,
            key: Some("k1".into()),
        }),
        status: Status::Rejected { decision },
        attempts: 0,
        history: vec![(at(10), "submitted".into()), (at(20), "rejected".into())],
        reminded: false,
        undelivered: vec![],
        codes_delivered: vec![],
        last_record_only: false,
    };
    let s = Settled::of(&r, 7, 9).unwrap();
    assert_eq!(s.id(), r.id);
    assert_eq!((s.first, s.last), (7, 9));
    assert_eq!(s.kind.name(), r.status.name());
    assert_eq!(Some(s.kind.exit_code()), r.status.exit_code());
    assert_eq!(s.created(), at(10));
    assert_eq!(s.decided(), Some(at(20)));
    assert_eq!(s.changed(), r.settled_at());
    assert_eq!(s.risk, Risk::Medium);
    assert!(s.has(flag::INBOX) && s.has(flag::KEYED) && !s.has(flag::DROP_IN));
    let open = Request {
        status: Status::Pending,
        ..r
    };
    assert_eq!(Settled::of(&open, 7, 9), None, "open requests stay in full");
}

#[test]
fn a_request_is_archived_only_once_its_retention_has_passed_and_never_with_zero() {
    use super::archived_at;
    use std::time::Duration;
    let day = Duration::from_secs(86_400);
    let settled = jiff::Timestamp::from_second(1_000_000_000).unwrap();
    let later = |d: Duration| settled + d;
    assert!(!archived_at(settled, later(day * 89), day * 90));
    assert!(!archived_at(settled, later(day * 90), day * 90));
    assert!(archived_at(settled, later(day * 91), day * 90));
    assert!(!archived_at(settled, later(day * 10_000), Duration::ZERO));
    assert!(!archived_at(settled, later(day * 10_000), Duration::MAX));
}
