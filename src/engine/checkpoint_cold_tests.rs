//! The cold file through checkpoints: the same state as a full fold,
//! hot and cold, with records warmed up and taken out after they went
//! cold; a damaged cold file is a full replay.

use super::*;
use crate::engine::checkpoint::cold::go_cold;

/// Long after the edge journal's events: every settled one is archived
/// (`done_notes_kept` defaults to 90 days).
fn later() -> Timestamp {
    at(200 * 86_400)
}

/// The edge journal replayed, its settled requests moved to a cold file
/// by a stop's checkpoint.
fn cold_state(state: &Path) -> Vec<String> {
    let ids = edge_journal(state);
    let mut r = replay(state, config()).unwrap();
    assert!(go_cold(state, &r.journal, &mut r.machine, later(), true).unwrap());
    let index = r.machine.settled_index();
    assert_eq!(index.hot_len(), 0, "all archived, all cold");
    assert_eq!(index.cold().unwrap().file().len(), 8);
    write(state, &r.journal, r.last_event, &r.machine).unwrap();
    ids
}

fn cold_files(state: &Path) -> Vec<String> {
    let names = std::fs::read_dir(state).unwrap().flatten();
    let names = names.map(|e| e.file_name().into_string().unwrap());
    names.filter(|n| n.starts_with("settled-")).collect()
}

#[test]
fn cold_records_agree_with_the_full_fold_and_a_later_line_warms_one_up() {
    let dir = tempfile::tempdir().unwrap();
    let ids = cold_state(dir.path());
    // A late notification about a cold one, in the tail.
    let path = dir.path().join("journal.jsonl");
    let (mut j, _, _) = Journal::open(&path).unwrap();
    j.append(&[notified(&ids[1], 40)]).unwrap();
    drop(j);
    let want = full(dir.path());
    for m in [
        replay(dir.path(), config()).unwrap().machine,
        read_state(dir.path(), config()).unwrap(),
    ] {
        let index = m.settled_index();
        assert_eq!(index.hot_len(), 1, "the one the tail changed");
        assert_eq!(index.iter_all().count(), 8);
        let all: Vec<u64> = index.iter_all().map(|s| s.id).collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]), "in id order");
        let snap: Vec<_> = index.snapshot().into_iter().collect();
        assert_eq!(snap, index.iter_all().collect::<Vec<_>>());
        assert_eq!(index.ids_starting("a0000000000", 20).len(), 8);
        each_in_full(dir.path(), &m, &want);
        agree(&m, &want);
    }
}

#[test]
fn a_cold_record_taken_out_stays_out_through_a_checkpoint_and_comes_back_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let ids = cold_state(dir.path());
    let mut r = replay(dir.path(), config()).unwrap();
    assert!(r.from_checkpoint);
    let s = r.machine.settled(&ids[2]).unwrap();
    let whole = crate::engine::details::load(r.journal.path(), r.journal.chain(), &s).unwrap();
    r.machine.restore(whole.clone());
    assert_eq!(r.machine.settled_index().tombstones().len(), 1);
    write(dir.path(), &r.journal, r.last_event, &r.machine).unwrap();
    drop(r);
    let mut r = replay(dir.path(), config()).unwrap();
    assert!(r.from_checkpoint);
    assert!(r.machine.settled(&ids[2]).is_none(), "the tombstone holds");
    assert_eq!(r.machine.get(&ids[2]), Some(&whole), "held in full");
    assert_eq!(r.machine.settled_index().iter_all().count(), 7);
    assert_eq!(r.machine.compact(), 1);
    assert_eq!(r.machine.settled(&ids[2]), Some(s));
    // The next cold file holds it once, and the old file goes.
    let old = cold_files(dir.path());
    assert!(go_cold(dir.path(), &r.journal, &mut r.machine, later(), true).unwrap());
    write(dir.path(), &r.journal, r.last_event, &r.machine).unwrap();
    let new = cold_files(dir.path());
    assert_eq!(new.len(), 1);
    assert_ne!(new, old);
    assert_eq!(r.machine.settled_index().iter_all().count(), 8);
    assert!(r.machine.settled_index().tombstones().is_empty());
}

#[test]
fn a_damaged_cold_file_at_start_is_a_full_replay_and_the_cli_reads_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    cold_state(dir.path());
    let want = full(dir.path());
    let name = cold_files(dir.path()).remove(0);
    let path = dir.path().join(name);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[41] ^= 0x01; // the second record's first byte
    std::fs::write(&path, &bytes).unwrap();
    let r = replay(dir.path(), config()).unwrap();
    assert!(!r.from_checkpoint, "every block is checked at start");
    each_in_full(dir.path(), &r.machine, &want);
    agree(&r.machine, &want);
    // Gone altogether: the checkpoint can't be used either.
    std::fs::remove_file(&path).unwrap();
    let r = replay(dir.path(), config()).unwrap();
    assert!(!r.from_checkpoint);
    assert_eq!(r.machine.settled_index().iter_all().count(), 8);
    let m = read_state(dir.path(), config()).unwrap();
    each_in_full(dir.path(), &m, &want);
}
