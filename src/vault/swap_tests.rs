//! Tests of the rewrite by exchange and its spares (`swap.rs`).

use super::*;

/// A spare `name` in `dir` holding `text`, as a batch leaves one.
fn spare(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    keep_spare(&path, stamp(&path));
    path
}

#[test]
fn a_spare_with_a_second_name_is_never_written_into() {
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("precious");
    let path = spare(dir.path(), ".hitl-a.tmp", "keep me");
    // An agent links it elsewhere before the next batch.
    fs::hard_link(&path, &precious).unwrap();
    assert!(reuse(dir.path(), "a note").is_none());
    assert_eq!(fs::read_to_string(&precious).unwrap(), "keep me");
}

#[test]
fn a_spare_replaced_by_another_file_is_not_written_into() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let path = spare(dir.path(), ".hitl-b.tmp", "old drop-in");
    // The temp name now names another file, with no other name.
    let other = dir.path().join("other");
    fs::write(&other, "the agent's file").unwrap();
    fs::rename(&other, &path).unwrap();
    let mut theirs = File::open(&path).unwrap();
    assert!(reuse(dir.path(), "a note").is_none());
    let mut text = String::new();
    theirs.read_to_string(&mut text).unwrap();
    assert_eq!(text, "the agent's file");
}

#[test]
fn a_spare_of_ours_is_written_into_and_cut_to_its_new_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = spare(dir.path(), ".hitl-c.tmp", "a longer old drop-in text");
    let ino = fs::metadata(&path).unwrap().ino();
    let (got, _file) = reuse(dir.path(), "new").unwrap();
    assert_eq!(got, path);
    assert_eq!(fs::read_to_string(&path).unwrap(), "new");
    assert_eq!(fs::metadata(&path).unwrap().ino(), ino, "the same file");
}

#[test]
fn a_rewrite_exchanged_into_place_leaves_the_replaced_file_at_the_temp_name() {
    let dir = tempfile::tempdir().unwrap();
    let (note, tmp) = (dir.path().join("n.md"), dir.path().join(".hitl-n.tmp"));
    fs::write(&note, "old").unwrap();
    fs::write(&tmp, "new").unwrap();
    let read = stamp(&note);
    assert!(matches!(
        put(&tmp, &note, Some(read)),
        Ok(Put::Done(Some(_)))
    ));
    assert_eq!(fs::read_to_string(&note).unwrap(), "new");
    assert_eq!(fs::read_to_string(&tmp).unwrap(), "old");
    // Nothing at the note's path: a plain rename.
    let (fresh, tmp2) = (dir.path().join("f.md"), dir.path().join(".hitl-f.tmp"));
    fs::write(&tmp2, "first").unwrap();
    assert!(matches!(put(&tmp2, &fresh, None), Ok(Put::Done(None))));
    assert_eq!(fs::read_to_string(&fresh).unwrap(), "first");
    assert!(!tmp2.exists());
}

#[test]
fn a_spare_on_another_device_with_the_same_inode_number_is_not_written_into() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".hitl-d.tmp");
    fs::write(&path, "someone else's").unwrap();
    // Kept as the file of the same inode number on another device: the
    // name now holds a file of another file system (a mount there).
    let [dev, ino, size, m, c] = stamp(&path).unwrap().parts();
    let elsewhere = Stamp::from_parts([dev + 1, ino, size, m, c]).unwrap();
    keep_spare(&path, Some(elsewhere));
    let mut theirs = File::open(&path).unwrap();
    assert!(reuse(dir.path(), "a note").is_none());
    let mut text = String::new();
    theirs.read_to_string(&mut text).unwrap();
    assert_eq!(text, "someone else's");
}

#[test]
fn a_same_size_save_with_its_mtime_put_back_after_the_check_is_seen_after_the_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let (note, tmp) = (dir.path().join("n.md"), dir.path().join(".hitl-n.tmp"));
    fs::write(&note, "- [ ] Approve").unwrap();
    let read = stamp(&note);
    let checked = Checked::take(&note, read).unwrap().unwrap();
    assert!(checked.still_same());
    // The save lands after the check: same size, modification time put
    // back, so only the change time (which the exchange sets anew) and
    // the text say so.
    let mtime = fs::metadata(&note).unwrap().modified().unwrap();
    let f = OpenOptions::new().write(true).open(&note).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"- [x] Approve", 0).unwrap();
    f.set_modified(mtime).unwrap();
    fs::write(&tmp, "rendered").unwrap();
    exchange(&tmp, &note).unwrap();
    assert!(
        same_version(stamp(&tmp), read),
        "the stamp alone can't see it"
    );
    assert!(!checked.still_same(), "the text does");
}

#[test]
fn a_checked_rewrite_with_a_save_after_the_check_puts_the_save_back() {
    let dir = tempfile::tempdir().unwrap();
    let (note, tmp) = (dir.path().join("n.md"), dir.path().join(".hitl-n.tmp"));
    fs::write(&note, "old").unwrap();
    // A check against a stamp that is not the file's is "changed".
    fs::write(&tmp, "new").unwrap();
    let other = Stamp::from_parts([0, 0, 3, 0, 0]);
    assert!(matches!(put(&tmp, &note, Some(other)), Ok(Put::Changed)));
    assert_eq!(fs::read_to_string(&note).unwrap(), "old");
    assert!(!tmp.exists());
    // A FIFO at the note's name fails the check, without blocking.
    let fifo = dir.path().join("f.md");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    fs::write(&tmp, "new").unwrap();
    assert!(matches!(
        put(&tmp, &fifo, Some(stamp(&fifo))),
        Ok(Put::Changed)
    ));
}
