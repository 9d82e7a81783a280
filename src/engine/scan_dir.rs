//! One folder listed, and its files `stat`ed through the folder's own
//! descriptor: the names are borrowed from the kernel's buffer and a file's
//! stamp comes from one `statx` asking only for what a stamp holds, so a
//! listed file whose stamp is unchanged costs no allocation at all (a
//! `PathBuf` and a `DirEntry` per file, and `std`'s full `Metadata`, were
//! most of an idle reconcile's user-space time).

use std::ffi::{CStr, CString, OsStr};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;

use crate::vault::Stamp;

/// What a stamp needs of `statx`: the inode, size, and the modification
/// and change times (the device is always filled in).
const STAMP_MASK: libc::c_uint =
    libc::STATX_INO | libc::STATX_SIZE | libc::STATX_MTIME | libc::STATX_CTIME;

/// A folder open for listing.
pub(super) struct Dir {
    dir: NonNull<libc::DIR>,
    fd: libc::c_int,
}

/// One name a listing gave, with the folder's descriptor to `stat` it by.
pub(super) struct Entry<'a> {
    name: &'a CStr,
    fd: libc::c_int,
}

impl Dir {
    /// `None` when the folder can't be opened (gone, not a folder): it lists
    /// nothing, as `read_dir` failing did.
    pub(super) fn open(path: &Path) -> Option<Dir> {
        let path = CString::new(path.as_os_str().as_bytes()).ok()?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // SAFETY: `path` is a valid NUL-terminated string.
        let fd = unsafe { libc::open(path.as_ptr(), flags) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` is an open descriptor of a folder, which the `DIR`
        // owns from now on (closed by `closedir`).
        match NonNull::new(unsafe { libc::fdopendir(fd) }) {
            Some(dir) => Some(Dir { dir, fd }),
            None => {
                // SAFETY: `fdopendir` failed, so `fd` is still ours.
                unsafe { libc::close(fd) };
                None
            }
        }
    }

    /// The next name listed (not `.` or `..`); `None` at the end, or on an
    /// error reading the folder (the listing is then cut short, as with
    /// `read_dir`'s errors skipped: a note it missed is only a suspect).
    pub(super) fn next(&mut self) -> Option<Entry<'_>> {
        loop {
            // SAFETY: `self.dir` is an open `DIR` that only this value uses.
            let ent = unsafe { libc::readdir64(self.dir.as_ptr()) };
            if ent.is_null() {
                return None;
            }
            // SAFETY: `d_name` of the entry `readdir64` returned is a
            // NUL-terminated name, valid until the next call on this `DIR`,
            // which the `&mut self` this borrows from rules out.
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
            if !matches!(name.to_bytes(), b"." | b"..") {
                let fd = self.fd;
                return Some(Entry { name, fd });
            }
        }
    }
}

impl Dir {
    /// The file `name` of this folder, to `stat` without listing.
    pub(super) fn named<'a>(&self, name: &'a CStr) -> Entry<'a> {
        Entry { name, fd: self.fd }
    }

    /// The folder's descriptor.
    pub(super) fn fd(&self) -> libc::c_int {
        self.fd
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: `self.dir` is open and not used after this.
        unsafe { libc::closedir(self.dir.as_ptr()) };
    }
}

impl Entry<'_> {
    pub(super) fn name(&self) -> &OsStr {
        OsStr::from_bytes(self.name.to_bytes())
    }

    /// The file's stamp now, not following a symlink; `None` if it is gone
    /// (or can't be `stat`ed: then it is read, which says why).
    pub(super) fn stamp(&self) -> Option<Stamp> {
        stamp_at(self.fd, self.name, 0)
    }
}

/// The stamp of the file open as `fd` (an `O_PATH` descriptor will do).
pub(super) fn stamp_of_fd(fd: libc::c_int) -> Option<Stamp> {
    stamp_at(fd, c"", libc::AT_EMPTY_PATH)
}

/// The stamp of `name` in the folder open as `fd` (or of `fd` itself, with
/// `AT_EMPTY_PATH` and no name), by one `statx`.
fn stamp_at(fd: libc::c_int, name: &CStr, empty: libc::c_int) -> Option<Stamp> {
    let mut stx = MaybeUninit::<libc::statx>::uninit();
    let flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_STATX_SYNC_AS_STAT | empty;
    // SAFETY: `fd` is an open folder, `name` a NUL-terminated name and
    // `stx` room for one `statx`, filled when the call returns 0.
    let rc = unsafe { libc::statx(fd, name.as_ptr(), flags, STAMP_MASK, stx.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: `statx` returned 0, so it filled `stx`.
    let stx = unsafe { stx.assume_init() };
    if stx.stx_mask & STAMP_MASK != STAMP_MASK {
        // A file system that can't give one of them: no stamp to trust.
        return None;
    }
    let ns =
        |t: libc::statx_timestamp| i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec);
    let dev = libc::makedev(stx.stx_dev_major, stx.stx_dev_minor);
    Stamp::from_parts([
        i128::from(dev),
        i128::from(stx.stx_ino),
        i128::from(stx.stx_size),
        ns(stx.stx_mtime),
        ns(stx.stx_ctime),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(dir: &Path) -> Vec<(std::ffi::OsString, Option<Stamp>)> {
        let mut d = Dir::open(dir).unwrap();
        let mut out = Vec::new();
        while let Some(e) = d.next() {
            out.push((e.name().to_owned(), e.stamp()));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn a_stamp_through_the_folder_is_the_one_a_path_stat_gives() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.md"), "x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("a.md", dir.path().join("link.md")).unwrap();
        let got = listed(dir.path());
        let names: Vec<&OsStr> = got.iter().map(|(n, _)| n.as_os_str()).collect();
        assert_eq!(names, ["a.md", "link.md", "sub"]);
        for (name, stamp) in &got {
            let meta = std::fs::symlink_metadata(dir.path().join(name)).unwrap();
            assert_eq!(*stamp, Some(Stamp::of(&meta)), "{name:?}");
        }
    }

    #[test]
    fn a_stamp_through_a_held_descriptor_is_the_one_by_name_and_follows_the_file() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.md");
        std::fs::write(&path, "x").unwrap();
        std::os::unix::fs::symlink("a.md", dir.path().join("link.md")).unwrap();
        let d = Dir::open(dir.path()).unwrap();
        for name in [c"a.md", c"link.md"] {
            let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            // SAFETY: an open folder and a NUL-terminated name.
            let fd = unsafe { libc::openat(d.fd(), name.as_ptr(), flags) };
            assert!(fd >= 0);
            // SAFETY: a new descriptor owned here.
            let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            let held = stamp_of_fd(fd.as_raw_fd());
            assert_eq!(held, d.named(name).stamp(), "{name:?}");
            assert!(held.is_some());
        }
        // A write through another name (a hard link made elsewhere) shows
        // through the held descriptor.
        let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: an open folder and a NUL-terminated name.
        let fd = unsafe { libc::openat(d.fd(), c"a.md".as_ptr(), flags) };
        // SAFETY: a new descriptor owned here.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let before = stamp_of_fd(fd.as_raw_fd()).unwrap();
        let other = dir.path().join("elsewhere");
        std::fs::hard_link(&path, &other).unwrap();
        std::fs::remove_file(&other).unwrap();
        assert_ne!(stamp_of_fd(fd.as_raw_fd()).unwrap(), before);
    }

    #[test]
    fn a_file_gone_between_the_listing_and_its_stat_has_no_stamp() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.md"), "x").unwrap();
        let mut d = Dir::open(dir.path()).unwrap();
        let e = d.next().unwrap();
        std::fs::remove_file(dir.path().join("a.md")).unwrap();
        assert_eq!(e.stamp(), None);
    }

    #[test]
    fn a_folder_that_is_not_there_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Dir::open(&dir.path().join("nope")).is_none());
        std::fs::write(dir.path().join("f"), "x").unwrap();
        assert!(Dir::open(&dir.path().join("f")).is_none());
    }
}
