//! The keyed journal: the key's file, re-chaining without the key, the
//! one-time upgrade of a journal from before the key.
use std::os::unix::fs::PermissionsExt;

use super::key::{Chain, key_path};
use super::*;
use crate::request::{EventKind, JOURNAL_EVENTS};
use jiff::Timestamp;

fn ev(id: &str, kind: EventKind) -> Event {
    Event {
        time: Timestamp::UNIX_EPOCH,
        request: id.into(),
        actor: "test".into(),
        kind,
    }
}

fn events() -> Vec<Event> {
    vec![
        ev("a", EventKind::Expired),
        ev("b", EventKind::Cancelled(None)),
        ev("c", EventKind::Expired),
    ]
}

/// Writes `events` as a journal from before the key: a plain SHA-256 chain.
fn legacy_journal(path: &Path, events: &[Event]) -> String {
    let mut text = String::new();
    let mut prev = GENESIS.to_string();
    for (i, e) in events.iter().enumerate() {
        let (line, hash) = encode(&Chain::Legacy, i as u64 + 1, &prev, e);
        text.push_str(&line);
        text.push('\n');
        prev = hash;
    }
    std::fs::write(path, &text).unwrap();
    prev
}

#[test]
fn the_journal_key_is_created_once_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let (mut j, _, _) = Journal::open(&path).unwrap();
    j.append(&events()).unwrap();
    let kp = key_path(&path);
    let meta = std::fs::metadata(&kp).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    let key = std::fs::read(&kp).unwrap();
    drop(j);
    let (_, records, _) = Journal::open(&path).unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(
        std::fs::read(&kp).unwrap(),
        key,
        "the key is never replaced"
    );
    assert!(verify(&path).unwrap().keyed);
}

#[test]
fn an_edited_journal_rechained_with_sha256_fails_verify_at_the_edited_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let (mut j, _, _) = Journal::open(&path).unwrap();
    j.append(&events()).unwrap();
    drop(j);
    // What a process that can write the journal but not read the key can
    // do: edit line 2 and re-chain everything with plain SHA-256.
    let mut edited = events();
    edited[1].kind = EventKind::Expired;
    legacy_journal(&path, &edited);
    match verify(&path).unwrap_err() {
        JournalError::Damaged { line, problem, .. } => {
            assert_eq!(line, 1, "{problem}");
            assert!(problem.contains("MAC mismatch"), "{problem}");
        }
        other => panic!("{other}"),
    }
    assert!(Journal::open(&path).is_err(), "the daemon refuses it too");
}

#[test]
fn a_keyed_journal_without_its_key_is_a_clear_error_not_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let (mut j, _, _) = Journal::open(&path).unwrap();
    j.append(&events()).unwrap();
    drop(j);
    std::fs::remove_file(key_path(&path)).unwrap();
    let err = Journal::open(&path)
        .err()
        .expect("no journal without its key");
    assert!(matches!(err, JournalError::Key { .. }), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(!key_path(&path).exists(), "no new key was made");
    assert!(matches!(verify(&path), Err(JournalError::Key { .. })));
}

#[test]
fn a_journal_from_before_the_key_is_upgraded_once_with_a_journaled_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let old_head = legacy_journal(&path, &events());
    let v = verify(&path).unwrap();
    assert!(!v.keyed, "read and verified before the upgrade");
    assert_eq!(read(&path).unwrap().len(), 3);

    let (mut j, records, _) = Journal::open(&path).unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(
        records[3].event.kind,
        EventKind::JournalKeyed {
            legacy_events: 3,
            legacy_head_sha256: Some(old_head),
        }
    );
    assert_eq!(records[3].event.request, JOURNAL_EVENTS);
    let kinds: Vec<_> = records[..3].iter().map(|r| r.event.kind.clone()).collect();
    assert_eq!(
        kinds,
        events().into_iter().map(|e| e.kind).collect::<Vec<_>>()
    );
    j.append(&[ev("d", EventKind::Cancelled(None))]).unwrap();
    drop(j);
    let v = verify(&path).unwrap();
    assert!(v.keyed);
    assert_eq!(v.events, 5);
    let (_, again, _) = Journal::open(&path).unwrap();
    assert_eq!(again.len(), 5, "upgraded once only");
    assert!(!dir.path().join("journal.key.pending").exists());
}

#[test]
fn an_upgrade_cut_short_after_the_rename_adopts_its_pending_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    legacy_journal(&path, &events());
    drop(Journal::open(&path).unwrap());
    let kp = key_path(&path);
    // The crash: the keyed journal is in place, its key still pending.
    std::fs::rename(&kp, dir.path().join("journal.key.pending")).unwrap();
    let (_, records, _) = Journal::open(&path).unwrap();
    assert_eq!(records.len(), 4);
    assert!(kp.exists());
}
