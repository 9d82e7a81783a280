//! Putting a rewrite in place by exchange (`renameat2(RENAME_EXCHANGE)`):
//! the temp file takes the note's name and the note's old file takes the
//! temp name, atomically. That does two things a plain rename can't:
//!
//! - **A save between the check and the rename is not lost.** The check
//!   (compare-and-swap against the version the text was rendered from)
//!   comes before the rename; a write landing between them went into the
//!   file the rename replaces. After an exchange that file is still there,
//!   at the temp name: if it is no longer the version checked (its inode,
//!   size or modification time moved, or its text is not the text it had
//!   at the check), it is exchanged back and the rewrite reports
//!   "changed", as a failed check does, so the note is read again and
//!   rewritten from the person's text. The text is compared because the
//!   change time can't be: the exchange itself sets it on both files, so a
//!   same-size save whose modification time was put back leaves no other
//!   trace (see [`Checked`]).
//! - **No file is created or freed per note in a burst.** The old file,
//!   once checked (a regular file with no other name), is a spare: the
//!   next batch writes its temp file into it instead of creating one. On
//!   this project's disk (ext4 without a journal, mounted `discard`),
//!   creating a file skips every inode freed in the last seconds one by
//!   one and freeing one trims its blocks at once: a burst of drop-ins
//!   spent most of its time there.
//!
//! A spare is reused only if the temp name still holds the very file
//! (device and inode) put there (a same-uid agent can replace it, or link it elsewhere first:
//! a file with a second name is never written into). Spares not reused
//! within [`SPARE_IDLE`] are freed on the closing thread.
//!
//! A file system without the exchange (EINVAL) gets the plain rename.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::stamp::{Stamp, stamp};

/// How long spares wait for the next batch before they are freed.
pub(super) const SPARE_IDLE: Duration = Duration::from_secs(1);

/// At most this many spares are kept per folder.
const MAX_SPARES: usize = 256;

/// A file a replaced note left at a temp name, to be written into.
struct Spare {
    path: PathBuf,
    /// Which file it is: its device and inode. An inode number alone names
    /// a file only on one file system (a folder can come to hold another
    /// mounted there, a FUSE mount needs no privilege).
    file: (u64, u64),
}

/// The spares of each folder, and when one was last kept or reused.
#[derive(Default)]
struct Spares {
    by_dir: HashMap<PathBuf, Vec<Spare>>,
    used: Option<Instant>,
}

static SPARES: Mutex<Option<Spares>> = Mutex::new(None);

fn with_spares<T>(f: impl FnOnce(&mut Spares) -> T) -> T {
    let mut spares = SPARES.lock().unwrap_or_else(|p| p.into_inner());
    let spares = spares.get_or_insert_default();
    spares.used = Some(Instant::now());
    f(spares)
}

/// Exchanges the files at `a` and `b` (both must exist).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes());
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: two NUL-terminated paths that outlive the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// How a checked rename ended.
pub(super) enum Put {
    /// In place; the replaced file, if any, is left at the temp name (a
    /// spare to reuse or free), with its stamp.
    Done(Option<Stamp>),
    /// `path` was no longer the version read: nothing replaced.
    Changed,
    /// No exchange on this file system: rename as before.
    Unsupported,
}

/// Puts `tmp` at `path` if `path` is still the version `read` (`None`:
/// whatever is there), checked before and after (see the module's doc).
/// The temp file is gone or is the replaced file afterwards, but when the
/// exchange back of a save failed: the save is then left there, logged.
pub(super) fn put(tmp: &Path, path: &Path, read: Option<Option<Stamp>>) -> std::io::Result<Put> {
    let mut checked = None;
    if let Some(read) = read {
        fail::fail_point!("note-before-rename");
        match Checked::take(path, read) {
            Ok(c) => checked = c,
            Err(()) => {
                fs::remove_file(tmp)?;
                return Ok(Put::Changed);
            }
        }
        // Said only in the tests' build: they wait for it.
        #[cfg(feature = "failpoints")]
        tracing::debug!(path = %path.display(), "note rewrite checked, not yet in place");
        fail::fail_point!("note-after-check");
    }
    let exchanged = exchange(tmp, path);
    let nothing_there = read.is_none_or(|r| r.is_none());
    match exchanged.as_ref().map_err(std::io::Error::raw_os_error) {
        Ok(()) => {}
        Err(Some(libc::EINVAL | libc::ENOSYS)) => return Ok(Put::Unsupported),
        // Nothing there (or the temp file is gone: the rename says).
        Err(Some(libc::ENOENT)) if nothing_there => {
            return match fs::rename(tmp, path) {
                Ok(()) => Ok(Put::Done(None)),
                Err(e) => Err(removed(tmp, e)),
            };
        }
        // The note read is gone since the check: it changed.
        Err(Some(libc::ENOENT)) if tmp.exists() => {
            fs::remove_file(tmp)?;
            return Ok(Put::Changed);
        }
        Err(_) => {
            return Err(removed(
                tmp,
                exchanged
                    .err()
                    .unwrap_or_else(|| std::io::Error::other("exchange")),
            ));
        }
    }
    let was = stamp(tmp);
    let kept = match (read, &checked) {
        (Some(read), _) if !same_version(was, read) => false,
        (_, Some(checked)) => checked.still_same(),
        _ => true,
    };
    if kept {
        Ok(Put::Done(was))
    } else {
        put_back(tmp, path).map(|()| Put::Changed)
    }
}

/// The file a checked rewrite replaces, as it was at the check: held open,
/// with its text then. After the exchange its change time says nothing
/// (the exchange sets it), so a save landing between the check and the
/// exchange that kept the size and put the modification time back is
/// seen only by its text: read again through the same descriptor, it
/// must be the text of the check.
struct Checked {
    file: File,
    text: Vec<u8>,
}

impl Checked {
    /// `Err`: `path` is not the version `read`. `Ok(None)`: nothing was
    /// there and nothing is.
    fn take(path: &Path, read: Option<Stamp>) -> Result<Option<Checked>, ()> {
        let Some(read) = read else {
            return if stamp(path).is_none() {
                Ok(None)
            } else {
                Err(())
            };
        };
        // O_NONBLOCK: a FIFO put at the name fails the check, never blocks
        // it; O_NOFOLLOW: a symlink there is not the version read.
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(drop)?;
        // Read first, then `stat`: a text read before a `stat` that still
        // gives the change time of `read` is the text of that version (and
        // the file opened at `path` was that version's: a rename over it
        // since would have moved its change time too).
        let size = read.parts()[2] as u64;
        let mut text = Vec::with_capacity(size as usize + 1);
        (&mut file)
            .take(size + 1)
            .read_to_end(&mut text)
            .map_err(drop)?;
        let meta = file.metadata().map_err(drop)?;
        if !meta.is_file() || Stamp::of(&meta) != read {
            return Err(());
        }
        Ok(Some(Checked { file, text }))
    }

    /// Whether the file still holds the text of the check.
    fn still_same(&self) -> bool {
        use std::os::unix::fs::FileExt;
        let mut now = vec![0; self.text.len() + 1];
        let mut got = 0;
        while got < now.len() {
            match self.file.read_at(&mut now[got..], got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        now[..got] == self.text[..]
    }
}

/// A save landed between the check and the exchange: it goes back.
fn put_back(tmp: &Path, path: &Path) -> std::io::Result<()> {
    tracing::info!(path = %path.display(), "note saved during its rewrite; the save is kept and read again");
    if let Err(e) = exchange(tmp, path) {
        tracing::error!(path = %path.display(), saved_at = %tmp.display(), error = %e, "a save made during a note's rewrite could not be put back; it is at the temp name");
        return Err(e);
    }
    fs::remove_file(tmp)
}

/// `e`, once `tmp` is removed.
fn removed(tmp: &Path, e: std::io::Error) -> std::io::Error {
    let _ = fs::remove_file(tmp);
    e
}

/// Whether `was` (after an exchange, which moves the change time) is the
/// version `read`: same file, size and modification time (the text is
/// compared too, by [`Checked::still_same`]).
fn same_version(was: Option<Stamp>, read: Option<Stamp>) -> bool {
    match (was, read) {
        (Some(was), Some(read)) => {
            let ([d, i, s, m, _], [d2, i2, s2, m2, _]) = (was.parts(), read.parts());
            (d, i, s, m) == (d2, i2, s2, m2)
        }
        _ => false,
    }
}

/// Keeps the file left at `tmp` (stamp `was`) as a spare of its folder, or
/// frees it.
pub(super) fn keep_spare(tmp: &Path, was: Option<Stamp>) {
    let (Some(was), Some(dir)) = (was, tmp.parent()) else {
        return;
    };
    let [dev, ino, ..] = was.parts();
    let file = (dev as u64, ino as u64);
    let (kept, first) = with_spares(|spares| {
        let first = spares.by_dir.values().all(Vec::is_empty);
        let list = spares.by_dir.entry(dir.to_path_buf()).or_default();
        let room = list.len() < MAX_SPARES;
        if room {
            list.push(Spare {
                path: tmp.to_path_buf(),
                file,
            });
        }
        (room, first)
    });
    if !kept {
        super::closer::free(vec![tmp.to_path_buf()]);
    } else if first {
        super::closer::wake_closer();
    }
}

/// A spare of `dir` opened for writing and holding `contents`: its path
/// and file. `None` if there is none that is still ours.
pub(super) fn reuse(dir: &Path, contents: &str) -> Option<(PathBuf, File)> {
    loop {
        let spare = with_spares(|spares| spares.by_dir.get_mut(dir)?.pop())?;
        match write_into(&spare, contents) {
            Ok(f) => return Some((spare.path, f)),
            Err(e) => {
                tracing::debug!(path = %spare.path.display(), error = %e, "spare not reused");
                super::closer::free(vec![spare.path]);
            }
        }
    }
}

/// Writes `contents` into the spare, if it is still the file put there
/// (the same device and inode), a regular file with no other name.
fn write_into(spare: &Spare, contents: &str) -> std::io::Result<File> {
    // O_NONBLOCK: a FIFO put at the name fails the open, never blocks it.
    let mut f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&spare.path)?;
    let meta = f.metadata()?;
    if !meta.is_file() || (meta.dev(), meta.ino()) != spare.file || meta.nlink() != 1 {
        return Err(std::io::Error::other("not the spare put there"));
    }
    // Written over, then cut: a file no longer than a block keeps its
    // block (no free, no trim).
    f.rewind()?;
    f.write_all(contents.as_bytes())?;
    f.set_len(contents.len() as u64)?;
    Ok(f)
}

/// Whether any spare waits.
pub(super) fn any_spare() -> bool {
    let spares = SPARES.lock().unwrap_or_else(|p| p.into_inner());
    spares
        .as_ref()
        .is_some_and(|s| s.by_dir.values().any(|l| !l.is_empty()))
}

/// Takes every spare if none was kept or reused for [`SPARE_IDLE`]: they
/// are freed.
pub(super) fn take_idle() -> Vec<PathBuf> {
    let mut spares = SPARES.lock().unwrap_or_else(|p| p.into_inner());
    let idle = spares
        .as_ref()
        .and_then(|s| s.used)
        .is_some_and(|used| used.elapsed() >= SPARE_IDLE);
    if !idle {
        return Vec::new();
    }
    spares
        .take()
        .into_iter()
        .flat_map(|s| s.by_dir.into_values().flatten().map(|s| s.path))
        .collect()
}

/// Removes every spare now (hitl is stopping): no temp file is left in
/// the vault by a clean stop.
pub fn free_spares() {
    let taken = SPARES.lock().unwrap_or_else(|p| p.into_inner()).take();
    for spare in taken
        .into_iter()
        .flat_map(|s| s.by_dir.into_values().flatten())
    {
        let _ = fs::remove_file(&spare.path);
    }
}

#[cfg(test)]
#[path = "swap_tests.rs"]
mod tests;
