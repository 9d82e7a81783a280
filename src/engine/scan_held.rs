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
//! notes are `stat`ed by name. Each scan keeps only the descriptors of
//! files it found unchanged at a name it knows: one of a file gone,
//! replaced or changed is closed at the end of that scan.

use std::collections::HashMap;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::vault::Stamp;

/// Left for everything else that opens files: the socket's connections
/// (half of what is left after 256, at most 8,192: `socket::connection_cap`),
/// a burst's temp and replaced files (640), the journal, the watcher and
/// handlers' pipes.
const RESERVE: u64 = 2048;

/// The file a stamp names: its device and inode.
type FileId = (u64, u64);

/// One held descriptor, and the scan that last found it in use.
struct Slot {
    fd: OwnedFd,
    scan: u32,
}

/// The descriptors held, by the file they are open on.
#[derive(Default)]
pub(crate) struct Held {
    files: HashMap<FileId, Slot>,
    scan: u32,
    cap: usize,
}

fn file_of(stamp: &Stamp) -> FileId {
    let [dev, ino, ..] = stamp.parts();
    (dev as u64, ino as u64)
}

impl Held {
    /// A new scan begins: what it does not use is closed at its end.
    pub(crate) fn begin(&mut self) {
        self.scan = self.scan.wrapping_add(1);
        self.cap = cap();
    }

    /// The descriptor held on the file `known` names, marked in use.
    pub(crate) fn get(&mut self, known: &Stamp) -> Option<RawFd> {
        let slot = self.files.get_mut(&file_of(known))?;
        slot.scan = self.scan;
        Some(slot.fd.as_raw_fd())
    }

    /// The file `name` of the folder open as `dir` was found unchanged,
    /// with the stamp `known`: keeps (or opens) a descriptor on it.
    pub(crate) fn keep(&mut self, dir: RawFd, name: &CStr, known: &Stamp) {
        if self.get(known).is_some() || self.files.len() >= self.cap {
            return;
        }
        let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `dir` is an open folder and `name` a NUL-terminated name.
        let raw = unsafe { libc::openat(dir, name.as_ptr(), flags) };
        if raw < 0 {
            return; // out of descriptors, or gone: by name, as before
        }
        // SAFETY: `openat` returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Only the very file stamped: the name may have changed since.
        if super::dir::stamp_of_fd(fd.as_raw_fd()).as_ref() == Some(known) {
            let scan = self.scan;
            self.files.insert(file_of(known), Slot { fd, scan });
        }
    }

    /// The scan is over: closes the descriptors it did not use.
    pub(crate) fn end(&mut self) {
        let scan = self.scan;
        self.files.retain(|_, slot| slot.scan == scan);
    }
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
