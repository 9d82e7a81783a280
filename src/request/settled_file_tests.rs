use super::*;
use crate::request::settled::Kind;
use crate::rules::Risk;

fn chain() -> Chain {
    Chain::keyed(&[7u8; 32])
}

fn record(id: u64) -> Settled {
    let s = Settled::new(id, id * 10, id * 10 + 5, Kind::Executed, Risk::Low, 0);
    Settled {
        changed: 1_000 + id as u32,
        ..s
    }
}

/// `n` records with ids 3, 6, 9, ... and the file written from them.
fn written(n: u64) -> (tempfile::TempDir, PathBuf, Vec<Settled>, [u8; 64]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settled");
    let records: Vec<Settled> = (1..=n).map(|i| record(i * 3)).collect();
    let mac = write(&path, &chain(), [1; 32], records.iter().copied()).unwrap();
    (dir, path, records, mac)
}

#[test]
fn every_record_reads_back_by_id_and_in_order() {
    let n = (PER_BLOCK * 3 + 17) as u64;
    let (_dir, path, records, mac) = written(n);
    let f = SettledFile::open(&path, &chain(), [1; 32], &mac).unwrap();
    assert_eq!(f.len(), n);
    assert_eq!(f.blocks(), 4);
    let all: Vec<Settled> = f.iter().map(Result::unwrap).collect();
    assert_eq!(all, records);
    for s in &records {
        assert_eq!(f.get(s.id).unwrap(), Some(*s));
    }
    assert_eq!(f.newest_change(), 1_000 + (n * 3) as u32);
}

#[test]
fn lookups_at_block_boundaries_and_between_ids_find_the_right_record_or_none() {
    let (_dir, path, records, mac) = written((PER_BLOCK * 2) as u64);
    let f = SettledFile::open(&path, &chain(), [1; 32], &mac).unwrap();
    for i in [0, PER_BLOCK - 1, PER_BLOCK, 2 * PER_BLOCK - 1] {
        let s = records[i];
        assert_eq!(f.get(s.id).unwrap(), Some(s), "record {i}");
        // Ids between two records, before the first and after the last.
        assert_eq!(f.get(s.id + 1).unwrap(), None);
        assert_eq!(f.get(s.id - 1).unwrap(), None);
    }
    assert_eq!(f.get(0).unwrap(), None);
    assert_eq!(f.get(u64::MAX).unwrap(), None);
}

#[test]
fn an_empty_index_opens_and_finds_nothing() {
    let (_dir, path, _, mac) = written(0);
    let f = SettledFile::open(&path, &chain(), [1; 32], &mac).unwrap();
    assert!(f.is_empty());
    assert_eq!(f.get(3).unwrap(), None);
    assert_eq!(f.iter().count(), 0);
}

#[test]
fn a_flipped_byte_in_a_block_is_refused_naming_the_file_and_block() {
    let (_dir, path, records, mac) = written((PER_BLOCK * 2) as u64);
    let f = SettledFile::open(&path, &chain(), [1; 32], &mac).unwrap();
    // Flipped after the file was opened: each lookup checks its block.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[PER_BLOCK * RECORD_BYTES + 9] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let e = f.get(records[PER_BLOCK + 3].id).unwrap_err();
    assert!(matches!(e, SettledFileError::Block { block: 1, .. }), "{e}");
    assert!(e.to_string().contains("block 1"), "{e}");
    assert!(e.to_string().contains("settled"), "{e}");
    // The other block is still read; iteration stops at the damaged one.
    assert_eq!(f.get(records[3].id).unwrap(), Some(records[3]));
    assert!(f.iter().any(|r| r.is_err()));
}

#[test]
fn a_trailer_or_mac_that_does_not_match_is_refused() {
    let (_dir, path, _, mac) = written(10);
    let mut other = mac;
    other[0] ^= 1;
    assert!(SettledFile::open(&path, &chain(), [1; 32], &other).is_err());
    assert!(SettledFile::open(&path, &chain(), [2; 32], &mac).is_err());
    assert!(SettledFile::open(&path, &Chain::keyed(&[8; 32]), [1; 32], &mac).is_err());
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 1; // in the fences
    std::fs::write(&path, &bytes).unwrap();
    let e = SettledFile::open(&path, &chain(), [1; 32], &mac)
        .err()
        .unwrap();
    assert!(matches!(e, SettledFileError::Damaged { .. }), "{e}");
}

#[test]
fn records_out_of_order_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settled");
    let records = [record(6), record(3)];
    assert!(write(&path, &chain(), [1; 32], records).is_err());
    assert!(!path.exists());
}

#[test]
fn a_cold_file_swapped_for_a_huge_one_is_refused_before_its_trailer_is_read() {
    let (_dir, path, _, mac) = written(10);
    // A sparse 512 MB file whose tail claims a trailer of all but 100 bytes.
    let huge = path.with_extension("huge");
    let f = std::fs::File::create(&huge).unwrap();
    let size = 512 << 20;
    f.set_len(size).unwrap();
    let claim = (size - TAIL_BYTES as u64 - 100).to_le_bytes();
    std::os::unix::fs::FileExt::write_all_at(&f, &claim, size - TAIL_BYTES as u64).unwrap();
    let e = SettledFile::open_counted(&huge, &chain(), [1; 32], &mac, Some(10))
        .err()
        .unwrap();
    assert!(e.to_string().contains("record count"), "{e}");
    // Its own file, with its own count, opens.
    assert!(SettledFile::open_counted(&path, &chain(), [1; 32], &mac, Some(10)).is_ok());
    assert!(SettledFile::open_counted(&path, &chain(), [1; 32], &mac, Some(11)).is_err());
}

#[test]
fn a_cold_file_that_is_a_fifo_or_a_symlink_is_refused_without_waiting() {
    let (dir, path, _, mac) = written(10);
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert!(SettledFile::open(&fifo, &chain(), [1; 32], &mac).is_err());
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(SettledFile::open(&link, &chain(), [1; 32], &mac).is_err());
}
