//! The raw inotify descriptor, with the event mask chosen here: only what
//! can mean a change (write, close-after-write, create, delete, move,
//! attributes). Opens, reads and closes without writing raise no event, so
//! the daemon's own reads never wake it (notify's watcher has `IN_OPEN`
//! built in).

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What the daemon subscribes to on each watched folder.
pub(super) const MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR
    | libc::IN_EXCL_UNLINK;

/// Events after which the file is complete (or gone) and can be read at
/// once; the others wait for a quiet period.
const COMPLETE: u32 = libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_IGNORED
    | libc::IN_UNMOUNT;

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Raw {
    /// Something happened at `path`; `complete` if it can be read now.
    Path { path: PathBuf, complete: bool },
    /// The kernel's queue overflowed: events were lost.
    Overflow,
}

/// An inotify descriptor (non-blocking) and the folder of each watch.
pub(super) struct Inotify {
    fd: OwnedFd,
    dirs: HashMap<i32, PathBuf>,
    /// Read into, kept between reads (zeroing 64 KiB per read showed in
    /// profiles of bursts).
    buf: Vec<u8>,
}

impl AsRawFd for Inotify {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Inotify {
    pub(super) fn new() -> std::io::Result<Inotify> {
        // SAFETY: a plain syscall; the descriptor it returns is owned below.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Inotify {
            fd,
            dirs: HashMap::new(),
            buf: vec![0u8; 64 * 1024],
        })
    }

    /// Watches one folder (not its subfolders).
    pub(super) fn watch(&mut self, dir: &Path) -> std::io::Result<()> {
        let c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: `c` is a valid NUL-terminated path for the call's duration.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), MASK) };
        if wd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        self.dirs.insert(wd, dir.to_path_buf());
        Ok(())
    }

    /// Reads what is queued now (non-blocking) into `out`.
    /// `WouldBlock` when nothing is.
    pub(super) fn read(&mut self, out: &mut Vec<Raw>) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        // SAFETY: `buf` is valid for `buf.len()` bytes of writing.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let result = if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            self.decode(&buf[..n as usize], out);
            Ok(())
        };
        self.buf = buf;
        result
    }

    fn decode(&mut self, mut buf: &[u8], out: &mut Vec<Raw>) {
        const HEAD: usize = std::mem::size_of::<libc::inotify_event>();
        while buf.len() >= HEAD {
            let word =
                |at: usize| u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
            let (wd, mask, len) = (word(0) as i32, word(4), word(12) as usize);
            let Some(name) = buf.get(HEAD..HEAD + len) else {
                break;
            };
            let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(len)];
            buf = &buf[HEAD + len..];
            if mask & libc::IN_Q_OVERFLOW != 0 {
                out.push(Raw::Overflow);
                continue;
            }
            let Some(dir) = self.dirs.get(&wd) else {
                continue;
            };
            let path = if name.is_empty() {
                dir.clone()
            } else {
                dir.join(OsStr::from_bytes(name))
            };
            if mask & libc::IN_IGNORED != 0 {
                self.dirs.remove(&wd);
            }
            out.push(Raw::Path {
                path,
                complete: mask & COMPLETE != 0,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 12): notify's watcher subscribed to `IN_OPEN`, so
    /// every read the daemon made of a note woke it (~270 context switches
    /// per idle reconcile).
    #[test]
    fn the_watch_mask_has_no_open_or_access_events() {
        for quiet in [libc::IN_OPEN, libc::IN_ACCESS, libc::IN_CLOSE_NOWRITE] {
            assert_eq!(MASK & quiet, 0, "{quiet:#x}");
        }
        for needed in [
            libc::IN_MODIFY,
            libc::IN_CLOSE_WRITE,
            libc::IN_CREATE,
            libc::IN_DELETE,
            libc::IN_MOVED_FROM,
            libc::IN_MOVED_TO,
            libc::IN_ATTRIB,
        ] {
            assert_ne!(MASK & needed, 0, "{needed:#x}");
        }
    }

    #[test]
    fn events_name_the_file_and_say_whether_it_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let mut ino = Inotify::new().unwrap();
        ino.watch(dir.path()).unwrap();
        let file = dir.path().join("n.md");
        std::fs::write(&file, "x").unwrap();
        let _ = std::fs::read_to_string(&file).unwrap();
        let mut out = Vec::new();
        ino.read(&mut out).unwrap();
        let complete: Vec<bool> = out
            .iter()
            .map(|r| match r {
                Raw::Path { path, complete } => {
                    assert_eq!(path, &file);
                    *complete
                }
                Raw::Overflow => panic!("overflow"),
            })
            .collect();
        // create, modify, close-after-write; the read raises nothing.
        assert_eq!(complete, [false, false, true]);
    }
}
