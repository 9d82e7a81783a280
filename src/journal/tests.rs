//! The journal's unit tests: round trips, damage, failed appends, a moved file.
use super::*;
use crate::request::EventKind;
use jiff::Timestamp;

fn ev(id: &str, kind: EventKind) -> Event {
    Event {
        time: Timestamp::UNIX_EPOCH,
        request: id.into(),
        actor: "test".into(),
        kind,
    }
}

fn sample(dir: &Path) -> PathBuf {
    let path = dir.join("journal.jsonl");
    let (mut j, records, torn) = Journal::open(&path).unwrap();
    assert!(records.is_empty() && torn.is_none());
    j.append(&[
        ev("a", EventKind::Expired),
        ev("b", EventKind::Cancelled(None)),
    ])
    .unwrap();
    j.append(&[ev(
        "c",
        EventKind::Unknown {
            why: "crash".into(),
        },
    )])
    .unwrap();
    path
}

#[test]
fn round_trip_and_continue_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let (mut j, records, _) = Journal::open(&path).unwrap();
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        records[2].event.kind,
        EventKind::Unknown {
            why: "crash".into()
        }
    );
    j.append(&[ev("d", EventKind::Expired)]).unwrap();
    assert_eq!(read(&path).unwrap().len(), 4);
}

#[test]
fn torn_tail_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - 20]).unwrap();
    let (_, records, torn) = Journal::open(&path).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(torn.map(|t| t.line), Some(3));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n') && text.lines().count() == 2);
}

fn damage(path: &Path, f: impl Fn(&mut Vec<String>)) -> JournalError {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    f(&mut lines);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    read(path).unwrap_err()
}

#[test]
fn edits_removals_and_swaps_name_the_line() {
    type Damage = fn(&mut Vec<String>);
    let cases: [(&str, Damage, u64); 3] = [
        ("edit", |l| l[1] = l[1].replace("cancelled", "expired"), 2),
        (
            "remove",
            |l| {
                l.remove(1);
            },
            2,
        ),
        ("swap", |l| l.swap(0, 1), 1),
    ];
    for (what, f, line) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        match damage(&path, f) {
            JournalError::Damaged { line: l, .. } => assert_eq!(l, line, "{what}"),
            other => panic!("{what}: {other}"),
        }
    }
}

#[test]
fn verify_reports_the_head_and_a_torn_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let (j, records, _) = Journal::open(&path).unwrap();
    let v = verify(&path).unwrap();
    assert_eq!(v.events, 3);
    assert_eq!(v.head, Some((3, records[2].hash.clone())));
    assert_eq!(j.head(), (3, records[2].hash.as_str()));
    assert_eq!(v.torn, None);
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - 20]).unwrap();
    let v = verify(&path).unwrap();
    assert_eq!(v.head, Some((2, records[1].hash.clone())));
    assert_eq!(v.torn.map(|t| t.line), Some(3));
    assert_eq!(
        std::fs::read(&path).unwrap().len(),
        full.len() - 20,
        "verify changes nothing"
    );
}

#[test]
fn a_failed_append_changes_nothing_and_the_next_one_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let (mut j, _, _) = Journal::open(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    // Half a line left by a short write the file system let through.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"seq\":4,")
        .unwrap();
    let full = std::fs::File::options()
        .append(true)
        .open("/dev/full")
        .unwrap();
    let good = std::mem::replace(&mut j.file, full);
    let good_path = std::mem::replace(&mut j.path, "/dev/full".into());
    let good_len = std::mem::replace(&mut j.len, 0);
    let err = j.append(&[ev("d", EventKind::Expired)]).unwrap_err();
    assert!(
        matches!(&err, JournalError::Io { error, .. } if error.raw_os_error() == Some(libc::ENOSPC)),
        "{err}"
    );
    (j.file, j.path, j.len) = (good, good_path, good_len);
    // /dev/full can't be cut: as if the half line were that append's.
    assert!(j.cut_pending);
    j.append(&[ev("d", EventKind::Expired)]).unwrap();
    let records = read(&path).unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(records[3].seq, 4);
    assert!(std::fs::read(&path).unwrap().starts_with(&before));
}

#[test]
fn a_journal_moved_away_is_noticed_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let (mut j, _, _) = Journal::open(&path).unwrap();
    let moved = dir.path().join("elsewhere.jsonl");
    std::fs::rename(&path, &moved).unwrap();
    let before = std::fs::read(&moved).unwrap();
    let err = j.append(&[ev("d", EventKind::Expired)]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("moved to") && text.contains("elsewhere.jsonl"),
        "{text}"
    );
    assert!(j.probe().is_err());
    assert_eq!(std::fs::read(&moved).unwrap(), before);
    assert_eq!(
        j.records().unwrap().len(),
        3,
        "still readable where it went"
    );
    std::fs::rename(&moved, &path).unwrap();
    j.probe().unwrap();
    j.append(&[ev("d", EventKind::Expired)]).unwrap();
    assert_eq!(read(&path).unwrap().len(), 4);
    std::fs::remove_file(&path).unwrap();
    let err = j.append(&[ev("e", EventKind::Expired)]).unwrap_err();
    assert!(err.to_string().contains("deleted"), "{err}");
}

#[test]
fn a_journal_changed_by_another_program_is_not_cut_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let (mut j, _, _) = Journal::open(&path).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"seq\":4}\n")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = j.append(&[ev("d", EventKind::Expired)]).unwrap_err();
    assert!(err.to_string().contains("another program"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// The journal's lines are hostile input until their MAC checks: a line
/// whose hash field would start inside a multi-byte character (nothing a
/// journal writes, anything an editor can) is damage, named by its line,
/// never a panic of the reading thread.
#[test]
fn a_wide_character_where_the_hash_field_should_start_is_damage_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let e = damage(&path, |l| {
        let at = l[1].len() - scan::HASH_SUFFIX_LEN + 1;
        l[1].insert(at, 'é');
    });
    assert!(matches!(e, JournalError::Damaged { line: 2, .. }), "{e}");
}
