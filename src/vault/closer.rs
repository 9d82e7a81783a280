//! The closing thread (`hitl-close`): files a batch replaced are freed
//! there, not on the engine thread, because freeing a file can wait for
//! the disk (see `batch`). It is handed held replaced files (freed by
//! their last close) and spares not to be reused (freed by their
//! removal), and frees the spares no batch reused for
//! [`swap::SPARE_IDLE`]. It sleeps while no spare waits.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};

use super::swap;

/// At most this many replaced files are held open at once, in every
/// batch and on the closing thread together (the rest are freed by their
/// rename, as without holding): with the temp files of a chunk, well
/// within the descriptors a daemon has (1,024 at the least, 256 of them
/// kept for the journal, the watcher, sockets and handlers).
const MAX_HELD: usize = 384;

/// How many replaced files are held open now (see [`MAX_HELD`]).
static HELD: AtomicUsize = AtomicUsize::new(0);

/// Closes held files, giving their descriptors back to [`MAX_HELD`].
pub(super) fn release(files: Vec<File>) {
    let n = files.len();
    drop(files);
    HELD.fetch_sub(n, Ordering::AcqRel);
}

/// Batches of replaced files waiting for the closing thread, at most: one
/// more waits for it, so a burst goes at the pace the disk frees files.
const CLOSE_QUEUE: usize = 4;

/// The file at `path`, held without being opened for reading (`O_PATH`:
/// no FIFO can block it, no device is opened); `None` if there is none.
pub(super) fn hold(path: &Path) -> Option<File> {
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
pub(super) fn close_elsewhere(files: Vec<File>) {
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
