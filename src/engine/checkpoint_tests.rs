//! Checkpoints: used when sound, and a full replay (never a wrong state)
//! when missing, damaged, or not the journal's.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::request::{Actor, Event, EventKind, Gesture, Id, Request, Settled, Source, Submission};

fn config() -> Arc<Config> {
    Arc::new(Config::parse("default: require\n", "test").unwrap())
}

fn at(s: u64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s as i64).unwrap()
}

fn submitted(id: &str, t: u64) -> Event {
    Event {
        time: at(t),
        request: id.into(),
        actor: Actor::Named("agent".into()),
        kind: EventKind::Submitted(Box::new(Submission {
            action: "payment".into(),
            payload: serde_json::json!({"amount": t}).into(),
            payload_sha256: "0".repeat(64),
            summary: format!("pay {t}"),
            rationale: None,
            requested_by: "agent".into(),
            created: at(t),
            expires: at(t + 86_400),
            risk: Default::default(),
            signals: vec![],
            rule: None,
            file_name: format!("payment-{id}.md"),
            source: Source::Cli,
            drop_in_sha256: None,
            notify_requester: None,
            key: None,
        })),
    }
}

fn rejected(id: &str, t: u64) -> Event {
    Event {
        time: at(t),
        request: id.into(),
        actor: Actor::Vault,
        kind: EventKind::Rejected {
            reason: Some("no".into()),
            gesture: Gesture::CommandLine,
        },
    }
}

/// A journal with a checkpoint after its first 3 events and 2 more after.
fn setup(state: &Path) -> BTreeMap<Id, Request> {
    let path = state.join("journal.jsonl");
    let (mut j, _, _) = Journal::open(&path).unwrap();
    j.append(&[submitted("a1", 1), submitted("b2", 2), rejected("a1", 3)])
        .unwrap();
    let m = Machine::replay(config(), &journal_events(&path)).unwrap();
    write(state, &j, Some(at(3)), &m).unwrap();
    j.append(&[submitted("c3", 4), rejected("b2", 5)]).unwrap();
    full(state)
}

fn journal_events(path: &Path) -> Vec<Event> {
    crate::journal::read(path)
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .collect()
}

fn full(state: &Path) -> BTreeMap<Id, Request> {
    let events = journal_events(&state.join("journal.jsonl"));
    Machine::replay(config(), &events)
        .unwrap()
        .requests()
        .clone()
}

fn start(state: &Path) -> (BTreeMap<Id, Request>, bool) {
    let r = replay(state, config()).unwrap();
    assert_eq!(r.last_event, Some(at(5)));
    assert_eq!(r.journal.head().0, 5);
    (r.machine.requests().clone(), r.from_checkpoint)
}

#[test]
fn a_sound_checkpoint_is_used_and_the_tail_replayed_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let want = setup(dir.path());
    let (got, used) = start(dir.path());
    assert!(used);
    assert_eq!(got, want);
    assert_eq!(got["b2"].status.name(), "rejected", "from the tail");
}

#[test]
fn a_damaged_or_mismatched_checkpoint_falls_back_to_a_full_replay() {
    type Damage = fn(&Path, &mut Vec<u8>);
    let cases: [(&str, Damage); 6] = [
        ("an older version (v2), valid MAC", |s, b| {
            let text = String::from_utf8(b.clone()).unwrap();
            let body = &text[..text.len() - 65];
            *b = remac(s, &body.replacen("checkpoint v3", "checkpoint v2", 1));
        }),
        ("flip a byte", |_, b| b[40] ^= 0x01),
        ("truncate", |_, b| b.truncate(b.len() / 2)),
        ("wrong seq, valid MAC", |s, b| {
            let text = String::from_utf8(b.clone()).unwrap();
            let body = &text[..text.len() - 65];
            *b = remac(s, &body.replace("\"seq\":3,", "\"seq\":2,"));
        }),
        ("wrong MAC (another key)", |_, b| {
            let n = b.len();
            b[n - 65..n - 1].copy_from_slice(&[b'0'; 64]);
        }),
        ("empty", |_, b| b.clear()),
    ];
    for (what, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        let want = setup(dir.path());
        let path = dir.path().join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        damage(dir.path(), &mut bytes);
        std::fs::write(&path, bytes).unwrap();
        let (got, used) = start(dir.path());
        assert!(!used, "{what}");
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn a_checkpoint_of_another_journal_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    // The same key, another history: an old backup put back with fewer
    // events than the checkpoint saw.
    let path = dir.path().join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let two: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, two).unwrap();
    let r = replay(dir.path(), config()).unwrap();
    assert!(!r.from_checkpoint);
    assert_eq!(r.journal.head().0, 2);
    assert_eq!(r.machine.requests()["a1"].status.name(), "pending");
}

/// What only a holder of the key can do: a checkpoint re-MACed.
fn remac(state: &Path, body: &str) -> Vec<u8> {
    let key: [u8; 32] = std::fs::read(state.join("journal.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let mut mac = Chain::keyed(&key).mac().unwrap();
    mac.update(body.as_bytes());
    let mut out = body.as_bytes().to_vec();
    out.extend_from_slice(&mac.finish_hex());
    out.push(b'\n');
    out
}

#[test]
fn the_cli_reads_the_same_state_from_a_checkpoint_or_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let want = setup(dir.path());
    let got = read_state(dir.path(), config()).unwrap();
    assert_eq!(got.requests(), &want);
    let path = dir.path().join(FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[50] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let got = read_state(dir.path(), config()).unwrap();
    assert_eq!(got.requests(), &want);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("journal.jsonl"))
            .unwrap()
            .lines()
            .count(),
        5,
        "nothing written"
    );
}

fn notified(id: &str, t: u64) -> Event {
    Event {
        time: at(t),
        request: id.into(),
        actor: Actor::Hitl,
        kind: EventKind::NotifyFailed {
            channel: "email".into(),
            event: "decided".into(),
            attempts: 3,
            error: "refused".into(),
        },
    }
}

/// Generated ids (which settle into compact records): two settled, one
/// with a notification after it settled, one open.
fn setup_settled(state: &Path) -> BTreeMap<Id, Request> {
    let path = state.join("journal.jsonl");
    let (mut j, _, _) = Journal::open(&path).unwrap();
    let (a, b, c) = ("a00000000001", "b00000000002", "c00000000003");
    j.append(&[submitted(a, 1), submitted(b, 2), rejected(a, 3)])
        .unwrap();
    j.append(&[submitted(c, 4), notified(a, 5), rejected(b, 6)])
        .unwrap();
    full(state)
}

/// Each request of `want` as `m` has it: open ones in full, settled ones
/// read back from the journal by their records' offsets.
fn each_in_full(state: &Path, m: &Machine, want: &BTreeMap<Id, Request>) {
    for (id, r) in want {
        let got = super::super::details::read_request(state, m, id).unwrap();
        assert_eq!(got.as_deref(), Some(r), "{id}");
        assert_eq!(
            m.get(id).is_none(),
            r.status.is_final(),
            "{id} compact iff settled"
        );
    }
}

#[test]
fn settled_requests_are_compact_and_read_back_whole_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let want = setup_settled(dir.path());
    let r = replay(dir.path(), config()).unwrap();
    assert!(!r.from_checkpoint);
    assert_eq!(r.machine.settled_index().iter_all().count(), 2);
    assert_eq!(r.machine.open_count(), 1);
    each_in_full(dir.path(), &r.machine, &want);
    let a = r.machine.settled("a00000000001").unwrap();
    assert!(a.has(crate::request::settled::flag::UNDELIVERED));
    assert_eq!(a.changed(), at(5), "its last line, a notification");
    // Through a checkpoint, and the CLI's read of it.
    write(dir.path(), &r.journal, r.last_event, &r.machine).unwrap();
    drop(r);
    let r = replay(dir.path(), config()).unwrap();
    assert!(r.from_checkpoint);
    each_in_full(dir.path(), &r.machine, &want);
    each_in_full(
        dir.path(),
        &read_state(dir.path(), config()).unwrap(),
        &want,
    );
}

#[test]
fn a_settled_requests_line_edited_in_the_journal_is_not_read_back() {
    let dir = tempfile::tempdir().unwrap();
    setup_settled(dir.path());
    let m = read_state(dir.path(), config()).unwrap();
    let path = dir.path().join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"reason\":\"no\"", "\"reason\":\"ok\""),
    )
    .unwrap();
    let got = super::super::details::read_request(dir.path(), &m, "b00000000002");
    assert!(
        matches!(got, Err(crate::journal::JournalError::Damaged { .. })),
        "{got:?}"
    );
}

fn ev(id: &str, t: u64, kind: EventKind) -> Event {
    Event {
        time: at(t),
        request: id.into(),
        actor: Actor::Named("cli:alice".into()),
        kind,
    }
}

fn approved(id: &str, t: u64, runs_handler: bool) -> Event {
    let gesture = Gesture::CommandLine;
    let reason = Some("fine".into());
    ev(
        id,
        t,
        EventKind::Approved {
            reason,
            gesture,
            runs_handler,
        },
    )
}

fn run() -> crate::request::RunResult {
    crate::request::RunResult {
        exit_code: Some(0),
        duration_ms: 3,
        output: "done".into(),
        truncated: false,
        error: None,
    }
}

#[test]
fn the_replay_into_compact_records_agrees_with_the_full_fold_on_every_edge() {
    let dir = tempfile::tempdir().unwrap();
    edge_journal(dir.path());
    let want = full(dir.path());
    let m = read_state(dir.path(), config()).unwrap();
    assert_eq!(m.settled_index().iter_all().count(), 8);
    assert_eq!(m.open_count(), 1);
    each_in_full(dir.path(), &m, &want);
    agree(&m, &want);
}

/// Every settled request's record is the one its full request makes.
fn agree(m: &Machine, want: &BTreeMap<Id, Request>) {
    for r in want.values().filter(|r| r.status.is_final()) {
        let s = m.settled(&r.id).unwrap();
        assert_eq!(Settled::of(r, s.first, s.last), Some(s), "{}", r.id);
    }
}

/// A journal of nine generated ids that reach every final status by
/// every path (and one still open), the last lines notifications and a
/// filing after they settled; returns the ids.
fn edge_journal(state: &Path) -> Vec<String> {
    use EventKind as E;
    let path = state.join("journal.jsonl");
    let (mut j, _, _) = Journal::open(&path).unwrap();
    let ids: Vec<String> = (1..=9).map(|n| format!("a0000000000{n}")).collect();
    let id = |n: usize| ids[n - 1].as_str();
    j.append(
        &ids.iter()
            .enumerate()
            .map(|(i, r)| submitted(r, i as u64))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let command = E::Executing {
        command: vec!["/bin/true".into()],
    };
    let resolved = E::Resolved {
        executed: true,
        reason: "checked".into(),
    };
    let revoke = |cancelled| E::Revoked {
        reason: None,
        gesture: Gesture::CommandLine,
        cancelled,
    };
    j.append(&[
        approved(id(1), 10, false),
        approved(id(2), 11, true),
        ev(id(2), 12, command.clone()),
        ev(id(2), 13, E::Unknown { why: "lost".into() }),
        ev(id(2), 14, resolved),
        approved(id(3), 15, true),
        ev(id(3), 16, E::Held { until: at(99) }),
        ev(id(3), 17, revoke(true)),
        approved(id(4), 18, true),
        ev(id(4), 19, revoke(false)),
        ev(id(5), 20, E::Expired),
        ev(id(6), 21, E::Cancelled(Some("oops".into()))),
        ev(
            id(7),
            22,
            E::Tampered {
                found_sha256: None,
                changed: vec!["payload".into()],
            },
        ),
        approved(id(8), 23, true),
        ev(id(8), 24, command),
        ev(id(8), 25, E::Failed(run())),
        notified(id(1), 26),
        ev(
            id(1),
            27,
            E::Filed {
                folder: "Done/2027-01".into(),
            },
        ),
        ev(id(5), 28, E::Reminded),
        approved(id(9), 29, true),
    ])
    .unwrap();
    ids
}

#[cfg(test)]
#[path = "checkpoint_cold_tests.rs"]
mod cold_tests;

#[test]
fn a_checkpoint_is_parsed_from_the_bytes_its_mac_checked_read_once() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let genuine = std::fs::read(dir.path().join(FILE)).unwrap();
    let chain = crate::journal::chain_for(&dir.path().join("journal.jsonl")).unwrap();
    // What a second read would see if the file were changed after the
    // first: forged sections, under the genuine MAC line.
    let n = genuine.len();
    let mut forged = genuine.clone();
    forged[n - 100] ^= 1;
    let len = n as u64;
    let twice = [&genuine[..], &forged[..]].concat();
    let loaded = load(dir.path(), &chain, cold::CLI, &twice[..], len).unwrap();
    assert_eq!(loaded.resume.seq, 3);
    let e = load(dir.path(), &chain, cold::CLI, &forged[..], len).err();
    assert!(matches!(e, Some(Unusable::Mac)), "{e:?}");
}
