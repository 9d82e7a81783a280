//! What a file looked like when the daemon last read or wrote it: device,
//! inode, size, modification and change times (nanoseconds). A reconcile
//! reads only files whose stamp differs, so one with nothing changed costs
//! a listing and a `stat` per note; and a note rewrite renames over only
//! the version it read ([`super::write_atomic_if`], compare-and-swap).
//!
//! The change time (ctime) is what makes this safe against a hostile
//! writer: `touch -d` can put back a modification time, but every write,
//! `touch` or rename sets the ctime to now, and no unprivileged process can
//! set it back. A new file at the path (rename over it) changes the inode.
//!
//! File times have a granularity (a clock tick); a second write in the
//! same tick as the one we saw, of the same size, would leave the same
//! stamp. So a stamp whose ctime is within [`RACY`] of the moment it was
//! taken proves nothing (git's "racily clean" entries): that file is read
//! again at the next reconcile, whose stamp then is trustworthy.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How close to the moment a stamp was taken its ctime may be before the
/// stamp proves nothing: well above any local file system's time tick.
pub const RACY: Duration = Duration::from_secs(1);

/// The times as seconds and nanoseconds, as the kernel gives them: 48
/// bytes, where nanoseconds as `i128` took 64 (kept for every note).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_s: i64,
    ctime_s: i64,
    mtime_n: u32,
    ctime_n: u32,
}

/// Nanoseconds since the epoch as (seconds, nanoseconds in the second);
/// `None` past what an `i64` of seconds holds.
fn split_ns(ns: i128) -> Option<(i64, u32)> {
    const NS: i128 = 1_000_000_000;
    let s = i64::try_from(ns.div_euclid(NS)).ok()?;
    Some((s, ns.rem_euclid(NS) as u32))
}

fn join_ns(s: i64, n: u32) -> i128 {
    i128::from(s) * 1_000_000_000 + i128::from(n)
}

/// The stamp of the file at `path` (not following a symlink); `None` when
/// there is none.
pub fn stamp(path: &std::path::Path) -> Option<Stamp> {
    std::fs::symlink_metadata(path).ok().map(|m| Stamp::of(&m))
}

impl Stamp {
    pub fn of(meta: &Metadata) -> Stamp {
        // A file system's times are in range; normalised all the same.
        let time = |s: i64, n: i64| {
            split_ns(i128::from(s) * 1_000_000_000 + i128::from(n)).unwrap_or((s, 0))
        };
        let (mtime_s, mtime_n) = time(meta.mtime(), meta.mtime_nsec());
        let (ctime_s, ctime_n) = time(meta.ctime(), meta.ctime_nsec());
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_s,
            ctime_s,
            mtime_n,
            ctime_n,
        }
    }

    /// The stamp as numbers (device, inode, size, modification and change
    /// times in ns), to be written down and read back by [`Stamp::from_parts`].
    pub fn parts(&self) -> [i128; 5] {
        [
            i128::from(self.dev),
            i128::from(self.ino),
            i128::from(self.size),
            join_ns(self.mtime_s, self.mtime_n),
            join_ns(self.ctime_s, self.ctime_n),
        ]
    }

    /// The stamp [`Stamp::parts`] gave; `None` if a number is out of range.
    pub fn from_parts(parts: [i128; 5]) -> Option<Stamp> {
        let [dev, ino, size, mtime, ctime] = parts;
        let ((mtime_s, mtime_n), (ctime_s, ctime_n)) = (split_ns(mtime)?, split_ns(ctime)?);
        Some(Stamp {
            dev: u64::try_from(dev).ok()?,
            ino: u64::try_from(ino).ok()?,
            size: u64::try_from(size).ok()?,
            mtime_s,
            ctime_s,
            mtime_n,
            ctime_n,
        })
    }

    /// Whether this stamp, taken at `taken`, can vouch for the file's
    /// content: its last change is older than the time tick.
    pub fn settled_at(&self, taken: SystemTime) -> bool {
        let Ok(taken) = taken.duration_since(UNIX_EPOCH) else {
            return false;
        };
        join_ns(self.ctime_s, self.ctime_n) + RACY.as_nanos() as i128 <= taken.as_nanos() as i128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp_now(path: &std::path::Path) -> Stamp {
        Stamp::of(&std::fs::symlink_metadata(path).unwrap())
    }

    #[test]
    fn an_edit_that_puts_back_the_modification_time_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("n.md");
        std::fs::write(&f, "- [ ] Approve").unwrap();
        let before = std::fs::metadata(&f).unwrap();
        let seen = stamp_now(&f);
        // Same size, and the old modification time put back (touch -d).
        std::fs::write(&f, "- [x] Approve").unwrap();
        let file = std::fs::File::options().write(true).open(&f).unwrap();
        file.set_modified(before.modified().unwrap()).unwrap();
        let now = std::fs::metadata(&f).unwrap();
        assert_eq!(
            (now.len(), now.modified().unwrap()),
            (before.len(), before.modified().unwrap())
        );
        assert_ne!(stamp_now(&f), seen);
    }

    #[test]
    fn a_file_replaced_by_another_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("n.md");
        std::fs::write(&f, "aaaa").unwrap();
        let seen = stamp_now(&f);
        let other = dir.path().join(".tmp");
        std::fs::write(&other, "bbbb").unwrap();
        std::fs::rename(&other, &f).unwrap();
        assert_ne!(stamp_now(&f), seen);
    }

    #[test]
    fn a_stamp_reads_back_from_its_parts() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("n.md");
        std::fs::write(&f, "x").unwrap();
        let s = stamp_now(&f);
        assert_eq!(Stamp::from_parts(s.parts()), Some(s));
        assert_eq!(Stamp::from_parts([-1, 0, 0, 0, 0]), None);
    }

    #[test]
    fn a_stamp_keeps_its_times_to_the_nanosecond_in_48_bytes() {
        assert_eq!(std::mem::size_of::<Stamp>(), 48);
        let ns = 1_000_000_000i128;
        for (mtime, ctime) in [
            (0, 0),
            (
                1_764_000_000 * ns + 123_456_789,
                1_764_000_001 * ns + 999_999_999,
            ),
            (-1, -ns - 1),
            (
                i128::from(i64::MAX) * ns + ns - 1,
                i128::from(i64::MIN) * ns,
            ),
        ] {
            let parts = [7, 42, 1024, mtime, ctime];
            assert_eq!(Stamp::from_parts(parts).map(|s| s.parts()), Some(parts));
        }
        // Two stamps a nanosecond apart differ.
        let a = Stamp::from_parts([7, 42, 1024, ns, ns]);
        assert_ne!(a, Stamp::from_parts([7, 42, 1024, ns + 1, ns]));
        assert_ne!(a, Stamp::from_parts([7, 42, 1024, ns, ns - 1]));
        // Past an i64 of seconds: no stamp, as for any number out of range.
        assert_eq!(
            Stamp::from_parts([7, 42, 1024, i128::from(i64::MAX) * ns + ns, 0]),
            None
        );
    }

    #[test]
    fn a_stamp_taken_within_a_tick_of_the_change_vouches_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("n.md");
        std::fs::write(&f, "x").unwrap();
        let s = stamp_now(&f);
        let now = SystemTime::now();
        assert!(!s.settled_at(now));
        assert!(s.settled_at(now + RACY + Duration::from_millis(50)));
        assert!(!s.settled_at(UNIX_EPOCH));
    }
}
