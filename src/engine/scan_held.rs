//! Descriptors held on the notes of the folders of open notes, so that an
//! idle reconcile `stat`s each note through its own descriptor (`fstat`)
//! instead of looking its name up in its folder (`statx` by name): the
//! name lookup was about a third of the kernel's time per note.
//!
//! Why a held descriptor's stamp stands for the note at its name: a
//! descriptor is used only in a folder not listed this time, whose own
//! stamp is the one of its last full listing (`folder_unchanged` in
//! `scan.rs`), so no name in it was added, removed or bound to another
//! file since (a link, unlink or rename in a folder sets its change time,
//! which no one can set back); and only for the file (device and inode)
//! the engine's stamp of that name names. Its change time moves with any
//! write (through any name, a hard link made outside the vault included,
//! or a shared `mmap`), `truncate`, `chmod`, link or unlink of it. So an
//! equal stamp through the descriptor is the equal stamp the name would
//! give; a different one is read by its name, as before.
//!
//! Descriptors are `O_PATH` (no read or write access, no open file in the
//! sense of leases or locks, not kept by a handler: `O_CLOEXEC`), at most
//! as many as the limit on open files leaves after the connections' share
//! and a reserve (see [`cap`]); past that, or when one can't be opened,
//! notes are `stat`ed by name. A descriptor is opened on a file found
//! unchanged by name in a folder not listed, and kept while its folder is
//! not listed and the engine's stamp of the name names its file; the
//! descriptors of a folder that is listed (it changed) are closed, so a
//! descriptor keeps a file removed since at most until the next scan.

use std::collections::HashMap;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::vault::Stamp;

/// Left for everything else that opens files: the socket's connections
/// (half of what is left after 256, at most 8,192: `socket::connection_cap`),
/// a burst's temp and replaced files (640), the journal, the watcher and
/// handlers' pipes.
const RESERVE: u64 = 2048;

/// The file a stamp names: its device and inode.
type FileId = (u64, u64);

/// One held descriptor, on the file `file`.
struct Slot {
    file: FileId,
    fd: OwnedFd,
}

/// A folder's descriptors, in the order its known files were gone
/// through last time (the order of the engine's map of them, the same
/// from scan to scan while it does not change): the `i`-th known file's
/// descriptor is found at `i`, a sequential pass with no lookup (a hash
/// lookup per note was a cache miss each). A slot whose file is not the
/// one at its place is not used, and closed.
#[derive(Default)]
pub(crate) struct Row {
    old: Vec<Option<Slot>>,
    new: Vec<Option<Slot>>,
    open: usize,
    budget: usize,
}

/// The descriptors held, by folder.
#[derive(Default)]
pub(crate) struct Held {
    dirs: HashMap<PathBuf, (Vec<Option<Slot>>, usize, u32)>,
    scan: u32,
    cap: usize,
}

fn file_of(stamp: &Stamp) -> FileId {
    let [dev, ino, ..] = stamp.parts();
    (dev as u64, ino as u64)
}

impl Held {
    /// A new scan begins: the rows it does not go through are closed at
    /// its end.
    pub(crate) fn begin(&mut self) {
        self.scan = self.scan.wrapping_add(1);
        self.cap = cap();
    }

    /// The row of the folder `dir`, taken out for a pass over its known
    /// files; [`Held::put`] puts it back.
    pub(crate) fn take(&mut self, dir: &Path) -> Row {
        let (old, _, _) = self.dirs.remove(dir).unwrap_or_default();
        let others: usize = self.dirs.values().map(|(_, open, _)| open).sum();
        Row {
            new: Vec::with_capacity(old.len()),
            old,
            open: 0,
            budget: self.cap.saturating_sub(others),
        }
    }

    pub(crate) fn put(&mut self, dir: &Path, row: Row) {
        self.dirs
            .insert(dir.to_path_buf(), (row.new, row.open, self.scan));
    }

    /// The scan is over: closes the rows of the folders it did not go
    /// through by their known files (listed, or no longer looked at).
    pub(crate) fn end(&mut self) {
        let scan = self.scan;
        self.dirs.retain(|_, (_, _, at)| *at == scan);
    }
}

impl Row {
    /// The descriptor held on the file `known` names, the `new.len()`-th
    /// known file of the folder; `None` if there is none. Each known file
    /// gets one call of this, then one of [`Row::keep`].
    pub(crate) fn next(&mut self, known: &Stamp) -> Option<RawFd> {
        let at = self.new.len();
        let slot = self.old.get_mut(at).and_then(Option::take)?;
        if slot.file != file_of(known) {
            return None; // another file, or another order: closed
        }
        let fd = slot.fd.as_raw_fd();
        self.open += 1;
        self.new.push(Some(slot));
        Some(fd)
    }

    /// After [`Row::next`] gave no descriptor for the known file `name` of
    /// the folder open as `dir`: opens one if it was found `unchanged`
    /// (with the stamp `known`) and the budget allows.
    pub(crate) fn keep(&mut self, dir: RawFd, name: &CStr, known: &Stamp, unchanged: bool) {
        let slot = if unchanged && self.open < self.budget {
            open_on(dir, name, known)
        } else {
            None
        };
        self.open += usize::from(slot.is_some());
        self.new.push(slot);
    }
}

/// An `O_PATH` descriptor on the file `name` of the folder open as `dir`,
/// if it is the very file stamped `known` (the name may have changed).
fn open_on(dir: RawFd, name: &CStr, known: &Stamp) -> Option<Slot> {
    let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `dir` is an open folder and `name` a NUL-terminated name.
    let raw = unsafe { libc::openat(dir, name.as_ptr(), flags) };
    if raw < 0 {
        return None; // out of descriptors, or gone: by name, as before
    }
    // SAFETY: `openat` returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    (super::dir::stamp_of_fd(fd.as_raw_fd()).as_ref() == Some(known)).then(|| Slot {
        file: file_of(known),
        fd,
    })
}

/// How many descriptors may be held: the limit on open files (the socket
/// raises it toward the hard limit at start) less the connections' share
/// and [`RESERVE`].
fn cap() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    let soft = lim.rlim_cur;
    let connections = (soft.saturating_sub(256) / 2).min(8192);
    let cap = soft.saturating_sub(connections).saturating_sub(RESERVE);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(path: &Path) -> Stamp {
        crate::vault::stamp(path).unwrap()
    }

    #[test]
    fn a_held_descriptor_serves_only_the_very_file_at_its_place_in_the_pass() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.md"), dir.path().join("b.md"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let folder = super::super::dir::Dir::open(dir.path()).unwrap();
        let mut held = Held::default();
        held.begin();
        let mut row = held.take(dir.path());
        assert_eq!(row.next(&stamp(&a)), None, "nothing held yet");
        row.keep(folder.fd(), c"a.md", &stamp(&a), true);
        assert_eq!(row.next(&stamp(&b)), None);
        // Not unchanged (it is read): no descriptor.
        row.keep(folder.fd(), c"b.md", &stamp(&b), false);
        held.put(dir.path(), row);
        held.begin();
        let mut row = held.take(dir.path());
        let fd = row.next(&stamp(&a)).expect("held on a.md");
        assert_eq!(super::super::dir::stamp_of_fd(fd), Some(stamp(&a)));
        assert_eq!(row.next(&stamp(&b)), None);
        row.keep(folder.fd(), c"b.md", &stamp(&b), true);
        held.put(dir.path(), row);
        // Another order (the engine's map changed): a's place now holds
        // b's file, which is not a's.
        held.begin();
        let mut row = held.take(dir.path());
        assert_eq!(row.next(&stamp(&b)), None, "not the file at its place");
        // A stamp naming another file (a.md replaced): none either.
        std::fs::remove_file(&a).unwrap();
        std::fs::write(&a, "new a").unwrap();
        row.keep(folder.fd(), c"b.md", &stamp(&b), true);
        assert_eq!(row.next(&stamp(&a)), None);
        held.put(dir.path(), row);
        // A folder not gone through in a scan has its descriptors closed.
        held.begin();
        held.end();
        assert!(held.dirs.is_empty());
    }

    #[test]
    fn no_descriptor_is_opened_past_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.md");
        std::fs::write(&a, "a").unwrap();
        let folder = super::super::dir::Dir::open(dir.path()).unwrap();
        let mut held = Held::default();
        held.begin();
        held.cap = 0;
        let mut row = held.take(dir.path());
        row.keep(folder.fd(), c"a.md", &stamp(&a), true);
        held.put(dir.path(), row);
        let mut row = held.take(dir.path());
        assert_eq!(row.next(&stamp(&a)), None);
    }
}
