//! The index, hot and cold: lookups, updates, removals and prefixes over
//! both; a damaged cold block never answers.

use std::collections::BTreeSet;

use super::*;
use crate::journal::key::Chain;
use crate::request::settled::Kind;
use crate::request::settled_file::{self, PER_BLOCK};
use crate::rules::Risk;

fn record(id: u64, kind: Kind) -> Settled {
    Settled::new(id, id, id + 1, kind, Risk::Low, 0)
}

#[test]
fn the_index_finds_records_by_id_and_prefix_before_and_after_a_merge() {
    let mut index = SettledIndex::from_records(vec![
        record(0xa00000000001, Kind::Executed),
        record(0xb00000000002, Kind::Rejected),
    ])
    .unwrap();
    index.insert(record(0xa00000000003, Kind::Expired));
    for _ in 0..2 {
        assert_eq!(index.iter_all().count(), 3);
        assert_eq!(index.get("a00000000003").unwrap().kind, Kind::Expired);
        assert_eq!(index.get("b00000000002").unwrap().kind, Kind::Rejected);
        assert!(index.get("c00000000002").is_none());
        assert!(index.get("not an id").is_none());
        assert_eq!(index.ids_starting("a", 5).len(), 2);
        assert_eq!(index.ids_starting("b0", 5), vec!["b00000000002"]);
        index.merge();
    }
    assert_eq!(index.remove("a00000000001").unwrap().kind, Kind::Executed);
    assert!(index.get("a00000000001").is_none());
    assert!(SettledIndex::from_records(vec![record(1, Kind::Failed); 2]).is_none());
}

const BASE: u64 = 0xa000_0000_0000;

fn id(n: u64) -> String {
    format!("{:012x}", BASE + n)
}

fn panics(e: &settled_file::SettledFileError) -> ! {
    panic!("{e}")
}

/// Records 2, 4, 6, ... (three blocks and a bit) on disk, and one hot.
fn hot_and_cold(dir: &std::path::Path) -> (SettledIndex, std::path::PathBuf) {
    let chain = Chain::keyed(&[3u8; 32]);
    let path = dir.join("settled-1");
    let cold = (1..=(PER_BLOCK as u64 * 3 + 5)).map(|i| record(BASE + 2 * i, Kind::Rejected));
    let mac = settled_file::write(&path, &chain, [9; 32], cold).unwrap();
    let file = SettledFile::open(&path, &chain, [9; 32], &mac).unwrap();
    let hot = SettledIndex::from_records(vec![record(BASE + 3, Kind::Executed)]).unwrap();
    let index = hot.with_cold(Some(Cold::new(file, panics)), BTreeSet::new());
    (index, path)
}

#[test]
fn hot_wins_over_cold_and_a_removed_cold_record_is_a_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    let (mut index, _) = hot_and_cold(dir.path());
    let total = PER_BLOCK * 3 + 5 + 1;
    assert_eq!(index.iter_all().count(), total);
    assert_eq!(index.get(&id(4)).unwrap().kind, Kind::Rejected);
    assert_eq!(index.get(&id(3)).unwrap().kind, Kind::Executed);
    assert!(index.get(&id(5)).is_none());
    // Changed: copied hot, and the hot one wins.
    index.update(&id(4), |s| s.kind = Kind::Failed);
    assert_eq!(index.hot_len(), 2);
    assert_eq!(index.get(&id(4)).unwrap().kind, Kind::Failed);
    assert_eq!(index.iter_all().count(), total, "counted once");
    // Taken out: gone from lookups, iteration and prefixes.
    assert_eq!(index.remove(&id(4)).unwrap().kind, Kind::Failed);
    assert_eq!(index.remove(&id(6)).unwrap().kind, Kind::Rejected);
    assert!(index.get(&id(4)).is_none() && index.get(&id(6)).is_none());
    assert_eq!(index.tombstones().len(), 2);
    assert_eq!(index.iter_all().count(), total - 2);
    assert_eq!(index.snapshot().into_iter().count(), total - 2);
    assert_eq!(index.ids_starting("a0000000000", 20).len(), 6); // 2, 3, 8, 10, 12, 14
    // Put back: seen again.
    index.insert(record(BASE + 6, Kind::Expired));
    assert_eq!(index.get(&id(6)).unwrap().kind, Kind::Expired);
    assert_eq!(index.tombstones().len(), 1);
}

#[test]
fn a_damaged_cold_block_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (index, path) = hot_and_cold(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let second = PER_BLOCK * 40 + 3;
    bytes[second] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(index.get(&id(2)).unwrap().kind, Kind::Rejected);
    let id = id(2 * (PER_BLOCK as u64 + 2));
    for read in [
        Box::new(|| assert!(index.get(&id).is_some())) as Box<dyn Fn()>,
        Box::new(|| assert!(index.iter_all().count() > 0)),
        Box::new(|| assert!(index.snapshot().into_iter().count() > 0)),
    ] {
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_err();
        let msg = e.downcast_ref::<String>().unwrap();
        assert!(msg.contains("block 1 of the settled index"), "{msg}");
    }
}
