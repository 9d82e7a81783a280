//! Many note writes or moves at once, with one flush for all of them: a
//! burst of drop-ins costs a few flushes, not two fsyncs per note.
//!
//! Each rewrite goes in place by exchange (`swap`): the replaced file is
//! left at the temp name, checked (a save made after the compare-and-swap
//! check is put back), and kept as a spare that the next batch writes
//! its temp file into, so a burst neither creates nor frees a file per
//! note. Spares are freed on the closing thread (`closer`) once no batch
//! reused them for a second. Where the exchange is not supported, a
//! replaced file is held open (`O_PATH`) across a plain rename and freed
//! by its last close on that thread, as freeing can wait for the disk
//! (ext4 without a journal, mounted `discard`: ~200 µs a file).
//!
//! Descriptors are bounded: a batch is written [`WRITE_CHUNK`] files at a
//! time (each temp file is open until its chunk is flushed), and at most
//! `closer::MAX_HELD` replaced files are held open at once, so a burst
//! larger than the process's limit on open files loses no rewrite.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::closer::{close_elsewhere, hold, release};
use super::names::temp_name;
use super::stamp::{Stamp, stamp};
use super::swap::{self, Put};

/// One file of [`write_atomic_all`]: where, what, and the version it may
/// replace (see [`super::write_atomic_if`]; `None`: whatever is there).
pub struct BatchWrite<'a> {
    pub path: &'a Path,
    pub contents: &'a str,
    pub read: Option<Option<Stamp>>,
}

/// [`super::write_atomic_if`] for many files at once, with one flush for
/// all: every temp file written, one `syncfs` (each file fsynced for a
/// small batch, or if that fails), each renamed unless its file changed
/// since its read (compare-and-swap, checked just before its rename), then
/// each folder fsynced once. One result per file: `Ok(false)` when it
/// changed and nothing was written.
pub fn write_atomic_all(files: &[BatchWrite<'_>]) -> Vec<std::io::Result<bool>> {
    // A chunk at a time: each temp file stays open until its chunk is
    // flushed, so a burst of thousands must not hold them all at once
    // (it would run out of descriptors and lose the rewrites).
    files.chunks(WRITE_CHUNK).flat_map(write_chunk).collect()
}

/// How many files of a batch are written, flushed and renamed together:
/// bounds the temp files open at once.
const WRITE_CHUNK: usize = 256;

fn write_chunk(files: &[BatchWrite<'_>]) -> Vec<std::io::Result<bool>> {
    let mut tmps: Vec<std::io::Result<(PathBuf, File)>> = files
        .iter()
        .map(|&BatchWrite { path, contents, .. }| {
            failed_write(path)?;
            let dir = path.parent().unwrap_or(Path::new("."));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(reused) = swap::reuse(dir, contents) {
                return Ok(reused);
            }
            let tmp = dir.join(temp_name(&name, &crate::request::new_id()));
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            if let Err(e) = f.write_all(contents.as_bytes()) {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            Ok((tmp, f))
        })
        .collect();
    // `syncfs` flushes everything dirty on the file system, others'
    // writes too: worth it only for a batch, not a single note.
    if tmps.len() < SYNCFS_FROM || !sync_fs(&tmps) {
        for t in tmps.iter_mut() {
            if let Ok((tmp, f)) = t
                && let Err(e) = f.sync_all()
            {
                let _ = fs::remove_file(&*tmp);
                *t = Err(e);
            }
        }
    }
    let mut replaced = Vec::new();
    // Spares are kept for the next batch only in a burst.
    let burst = files.len() >= SYNCFS_FROM;
    let results: Vec<std::io::Result<bool>> = tmps
        .into_iter()
        .zip(files)
        .map(|(t, w)| {
            let (tmp, _) = t?;
            match swap::put(&tmp, w.path, w.read)? {
                Put::Done(was) if burst => {
                    swap::keep_spare(&tmp, was);
                    Ok(true)
                }
                Put::Done(was) => {
                    // A few notes: the old file goes at once (its free on
                    // the closing thread), no spare lingers.
                    if was.is_some() {
                        replaced.extend(hold(&tmp));
                        let _ = fs::remove_file(&tmp);
                    }
                    Ok(true)
                }
                Put::Changed => Ok(false),
                Put::Unsupported => rename_holding(&tmp, w.path, w.read, &mut replaced),
            }
        })
        .collect();
    close_elsewhere(replaced);
    let touched = files
        .iter()
        .zip(&results)
        .filter(|(_, r)| matches!(r, Ok(true)))
        .filter_map(|(w, _)| w.path.parent());
    let bad = sync_once(touched);
    results
        .into_iter()
        .zip(files)
        .map(|(r, w)| {
            if !r? {
                return Ok(false);
            }
            match w.path.parent().filter(|d| bad.contains(d)) {
                Some(dir) => Err(unsynced(dir)),
                None => Ok(true),
            }
        })
        .collect()
}

/// The test hook `note-write`: `return(FILE)` fails every write of a
/// note or page while FILE exists, as a full disk would.
pub(super) fn failed_write(path: &Path) -> std::io::Result<()> {
    fail::fail_point!("note-write", |full: Option<String>| {
        match full.filter(|f| Path::new(f).exists()) {
            Some(_) => Err(std::io::Error::other(format!(
                "failpoint note-write: {} not written",
                path.display()
            ))),
            None => Ok(()),
        }
    });
    let _ = path;
    Ok(())
}

/// [`rename_if`], holding the replaced file open so that its last close,
/// which frees it, happens on the closing thread (`replaced`).
fn rename_holding(
    tmp: &Path,
    path: &Path,
    read: Option<Option<Stamp>>,
    replaced: &mut Vec<File>,
) -> std::io::Result<bool> {
    let old = hold(path);
    let renamed = rename_if(tmp, path, read).inspect_err(|_| {
        let _ = fs::remove_file(tmp);
    });
    match (&renamed, old) {
        (Ok(true), Some(old)) => replaced.push(old),
        (_, old) => release(old.into_iter().collect()),
    }
    renamed
}

/// Renames `tmp` over `path` if the file there is still the version
/// `read`; else removes `tmp` and says `false`.
pub(super) fn rename_if(
    tmp: &Path,
    path: &Path,
    read: Option<Option<Stamp>>,
) -> std::io::Result<bool> {
    if let Some(read) = read {
        fail::fail_point!("note-before-rename");
        if stamp(path) != read {
            fs::remove_file(tmp)?;
            return Ok(false);
        }
    }
    fs::rename(tmp, path)?;
    Ok(true)
}

/// The batch size from which one `syncfs` replaces an fsync per file.
const SYNCFS_FROM: usize = 16;

/// One `syncfs` on the file system of the first open file: flushes all of
/// them. `false` if there is none or it failed.
fn sync_fs(files: &[std::io::Result<(PathBuf, File)>]) -> bool {
    use std::os::fd::AsRawFd;
    let Some(Ok((_, f))) = files.iter().find(|t| t.is_ok()) else {
        return false;
    };
    // SAFETY: a plain syscall on a descriptor we own.
    unsafe { libc::syncfs(f.as_raw_fd()) == 0 }
}

/// Fsyncs each folder once; the folders that failed.
fn sync_once<'a>(dirs: impl Iterator<Item = &'a Path>) -> HashSet<&'a Path> {
    let mut done = HashSet::new();
    let mut bad = HashSet::new();
    for dir in dirs {
        if done.insert(dir) && File::open(dir).and_then(|d| d.sync_all()).is_err() {
            bad.insert(dir);
        }
    }
    bad
}

fn unsynced(dir: &Path) -> std::io::Error {
    std::io::Error::other(format!("folder {} not synced", dir.display()))
}

/// [`super::move_note`] for many notes, each folder fsynced once at the end.
pub fn move_notes(moves: &[(&Path, &Path)]) -> Vec<std::io::Result<()>> {
    fn folders<'a>((from, to): &(&'a Path, &'a Path)) -> [Option<&'a Path>; 2] {
        [to.parent(), from.parent()]
    }
    let renamed: Vec<std::io::Result<()>> = moves
        .iter()
        .map(|(from, to)| fs::rename(from, to))
        .collect();
    let touched = moves
        .iter()
        .zip(&renamed)
        .filter(|(_, r)| r.is_ok())
        .flat_map(|(m, _)| folders(m).into_iter().flatten());
    let bad = sync_once(touched);
    renamed
        .into_iter()
        .zip(moves)
        .map(|(r, m)| {
            r?;
            match folders(m).into_iter().flatten().find(|d| bad.contains(d)) {
                Some(dir) => Err(unsynced(dir)),
                None => Ok(()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_files_are_replaced_at_once_and_leave_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.md"), dir.path().join("b.md"));
        std::fs::write(&a, "old").unwrap();
        let w = |path, contents| BatchWrite {
            path,
            contents,
            read: None,
        };
        let results = write_atomic_all(&[w(&a, "new a"), w(&b, "new b")]);
        assert!(results.iter().all(|r| matches!(r, Ok(true))), "{results:?}");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "new b");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let (a2, b2) = (sub.join("a.md"), sub.join("b.md"));
        let moved = move_notes(&[(&a, &a2), (&b, &b2)]);
        assert!(moved.iter().all(Result::is_ok), "{moved:?}");
        // The replaced `a.md` is a spare until no batch reuses it.
        wait_for_count(dir.path(), 1);
        assert_eq!(std::fs::read_to_string(&b2).unwrap(), "new b");
    }

    #[test]
    fn a_batch_replacing_a_fifo_neither_blocks_nor_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("a.md");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Held across its rename without being opened for reading: an
        // open of a FIFO without a writer would never return.
        let results = write_atomic_all(&[BatchWrite {
            path: &fifo,
            contents: "the note",
            read: None,
        }]);
        assert!(matches!(results[0], Ok(true)), "{results:?}");
        assert_eq!(std::fs::read_to_string(&fifo).unwrap(), "the note");
    }

    #[test]
    fn a_batched_rewrite_over_a_note_saved_since_its_read_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.md"), dir.path().join("b.md"));
        std::fs::write(&a, "old a").unwrap();
        std::fs::write(&b, "old b").unwrap();
        let (read_a, read_b) = (stamp(&a), stamp(&b));
        std::fs::write(&a, "the person's save").unwrap();
        let results = write_atomic_all(&[
            BatchWrite {
                path: &a,
                contents: "rendered a",
                read: Some(read_a),
            },
            BatchWrite {
                path: &b,
                contents: "rendered b",
                read: Some(read_b),
            },
        ]);
        assert!(matches!(results[0], Ok(false)), "{results:?}");
        assert!(matches!(results[1], Ok(true)), "{results:?}");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "the person's save");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "rendered b");
        // No temp file left once the spare (old `b.md`) is freed.
        wait_for_count(dir.path(), 2);
    }

    /// Waits (5 s at most) until `dir` holds `n` entries: spares are freed
    /// once no batch reused them for a second.
    pub(crate) fn wait_for_count(dir: &Path, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let names: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            if names.len() == n {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{names:?}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
