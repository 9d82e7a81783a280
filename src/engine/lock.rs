//! One daemon per state folder and per vault: an exclusive `flock`
//! (`File::try_lock`) on `hitl.lock` in the state folder, and one on the
//! vault directory itself (so nothing is written into the vault). The kernel releases both when the
//! process dies, so a stale lock never blocks a restart.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

pub struct StateLock {
    _file: File,
}

impl StateLock {
    pub fn acquire(state_dir: &Path) -> Result<StateLock, String> {
        let path = state_dir.join("hitl.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if !try_flock(&file) {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(format!(
                "another hitl daemon (pid {}) is running on the state folder {}",
                pid.trim(),
                state_dir.display()
            ));
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.sync_all();
        Ok(StateLock { _file: file })
    }
}

/// Held on the vault directory for the daemon's life.
pub struct VaultLock {
    _dir: File,
}

impl VaultLock {
    pub fn acquire(vault: &Path) -> Result<VaultLock, String> {
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(vault)
            .map_err(|e| format!("vault {}: {e}", vault.display()))?;
        if try_flock(&dir) {
            return Ok(VaultLock { _dir: dir });
        }
        // The lock lives on the directory, not in it: the holder is found
        // in the kernel's lock table.
        let holder = dir
            .metadata()
            .ok()
            .and_then(|m| {
                let locks = std::fs::read_to_string("/proc/locks").ok()?;
                flock_holder(&locks, m.dev(), m.ino())
            })
            .map_or_else(|| "pid unknown".to_string(), |pid| format!("pid {pid}"));
        Err(format!(
            "another hitl daemon ({holder}) is running on the vault {}",
            vault.display()
        ))
    }
}

/// An exclusive lock without waiting. On Linux std's `try_lock` is
/// `flock(LOCK_EX | LOCK_NB)`: tied to the open file, released by the
/// kernel when the process dies, and listed as `FLOCK` in `/proc/locks`.
fn try_flock(file: &File) -> bool {
    file.try_lock().is_ok()
}

/// The pid holding a `flock` on the file `dev`/`ino`, from `/proc/locks`
/// (`1: FLOCK ADVISORY WRITE 1234 fd:01:5678 0 EOF`; the device is
/// `major:minor` in hex).
fn flock_holder(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let want = format!("{:02x}:{:02x}:{ino}", libc::major(dev), libc::minor(dev));
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, "FLOCK", _, "WRITE", pid, file, ..] if *file == want => pid.parse().ok(),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flock_holder_is_read_from_the_lock_table() {
        let dev = libc::makedev(0xfd, 1);
        let locks = "1: POSIX  ADVISORY  WRITE 11 fd:01:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 22 fd:01:78 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 33 fd:01:77 0 EOF\n";
        assert_eq!(flock_holder(locks, dev, 77), Some(33));
        assert_eq!(flock_holder(locks, dev, 79), None);
        assert_eq!(flock_holder(locks, libc::makedev(8, 1), 77), None);
    }

    #[test]
    fn a_second_vault_lock_names_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = VaultLock::acquire(dir.path()).unwrap();
        // flock locks belong to the open file: a second open conflicts even
        // in the same process.
        let err = VaultLock::acquire(dir.path()).err().unwrap();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        VaultLock::acquire(dir.path()).unwrap();
    }
}
