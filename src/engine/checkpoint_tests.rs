//! Checkpoints: used when sound, and a full replay (never a wrong state)
//! when missing, damaged, or not the journal's.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::request::{Actor, Event, EventKind, Gesture, Id, Source, Submission};

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
            payload: serde_json::json!({"amount": t}),
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
    let cases: [(&str, Damage); 5] = [
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
