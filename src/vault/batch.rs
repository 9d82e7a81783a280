//! Many note writes or moves at once, with one flush for all of them: a
//! burst of drop-ins costs a few flushes, not two fsyncs per note.
//!
//! The files a batch replaces are freed on a thread of their own: freeing a
//! file can wait for the disk (ext4 without a journal, mounted `discard`,
//! trims the freed blocks at once: ~200 µs a file), and a burst of drop-ins
//! replaces thousands. A replaced file is held open (`O_PATH`) across its
//! rename, so the rename only unlinks it; the last close, which frees it,
//! happens on that thread.
//!
//! Descriptors are bounded: a batch is written [`WRITE_CHUNK`] files at a
//! time (each temp file is open until its chunk is flushed), and at most
//! [`MAX_HELD`] replaced files are held open at once, so a burst larger
//! than the process's limit on open files loses no rewrite.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};

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
    let results: Vec<std::io::Result<bool>> = tmps
        .into_iter()
        .zip(files)
        .map(|(t, w)| {
            let (tmp, _) = t?;
            match swap::put(&tmp, w.path, w.read)? {
                Put::Done(was) => {
                    swap::keep_spare(&tmp, was);
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

/// At most this many replaced files are held open at once, in every
/// batch and on the closing thread together (the rest are freed by their
/// rename, as without holding): with the temp files of a chunk, well
/// within the descriptors a daemon has (1,024 at the least, 256 of them
/// kept for the journal, the watcher, sockets and handlers).
const MAX_HELD: usize = 384;

/// How many replaced files are held open now (see [`MAX_HELD`]).
static HELD: AtomicUsize = AtomicUsize::new(0);

/// Closes held files, giving their descriptors back to [`MAX_HELD`].
fn release(files: Vec<File>) {
    let n = files.len();
    drop(files);
    HELD.fetch_sub(n, Ordering::AcqRel);
}

/// Batches of replaced files waiting for the closing thread, at most: one
/// more waits for it, so a burst goes at the pace the disk frees files.
const CLOSE_QUEUE: usize = 4;

/// The file at `path`, held without being opened for reading (`O_PATH`:
/// no FIFO can block it, no device is opened); `None` if there is none.
fn hold(path: &Path) -> Option<File> {
    if HELD.fetch_add(1, Ordering::AcqRel) >= MAX_HELD {
        HELD.fetch_sub(1, Ordering::AcqRel);
        return None;
    }
    let held = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
        .open(path)
        .ok();
    if held.is_none() {
        HELD.fetch_sub(1, Ordering::AcqRel);
    }
    held
}

/// What the closing thread is handed.
enum Closing {
    /// Held replaced files, freed by their last close.
    Files(Vec<File>),
    /// Spares not to be reused, freed by their removal.
    Paths(Vec<PathBuf>),
}

/// Closes `files` on the closing thread (here if it can't run).
fn close_elsewhere(files: Vec<File>) {
    if !files.is_empty() {
        to_closer(Closing::Files(files));
    }
}

/// Removes the files at `paths` (spares) on the closing thread.
pub(super) fn free(paths: Vec<PathBuf>) {
    if !paths.is_empty() {
        to_closer(Closing::Paths(paths));
    }
}

fn close(what: Closing) {
    match what {
        Closing::Files(files) => release(files),
        Closing::Paths(paths) => paths.iter().for_each(|p| {
            let _ = fs::remove_file(p);
        }),
    }
}

/// The closing thread, which also frees the spares no batch reused for
/// [`swap::SPARE_IDLE`]; `None` if it can't run.
fn closer() -> Option<&'static SyncSender<Closing>> {
    static CLOSER: OnceLock<Option<SyncSender<Closing>>> = OnceLock::new();
    CLOSER
        .get_or_init(|| {
            let (tx, rx) = sync_channel::<Closing>(CLOSE_QUEUE);
            let spawned = std::thread::Builder::new()
                .name("hitl-close".into())
                .spawn(move || {
                    loop {
                        // Asleep while no spare waits: no wake-up when idle.
                        let next = if swap::any_spare() {
                            rx.recv_timeout(swap::SPARE_IDLE)
                        } else {
                            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                        };
                        match next {
                            Ok(what) => close(what),
                            Err(RecvTimeoutError::Timeout) => {
                                close(Closing::Paths(swap::take_idle()))
                            }
                            Err(RecvTimeoutError::Disconnected) => break,
                        }
                    }
                });
            spawned.ok().map(|_| tx)
        })
        .as_ref()
}

/// Wakes the closing thread: spares wait to be freed once idle.
pub(super) fn wake_closer() {
    if let Some(tx) = closer() {
        // A full queue wakes it all the same.
        let _ = tx.try_send(Closing::Paths(Vec::new()));
    }
}

/// Hands `what` to the closing thread.
fn to_closer(what: Closing) {
    match closer() {
        // A closing thread gone hands the files back: closed here.
        Some(tx) => {
            if let Err(back) = tx.send(what) {
                close(back.0);
            }
        }
        None => close(what),
    }
}

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
