//! `Done/` by month: a settled request's note goes to `Done/2026-11/`, the
//! month (local time) of its final state, so no folder grows without end.

use std::fs;
use std::io;
use std::path::PathBuf;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{Folder, Vault};

/// The month folder's name for a final state reached at `at`: `2026-11`.
pub fn month_of(at: Timestamp, tz: &TimeZone) -> String {
    tz.to_datetime(at).strftime("%Y-%m").to_string()
}

impl Vault {
    /// `Done/<month>/`, made if missing. It must be a real folder: a
    /// symlink or a file an agent put there is refused (a note written
    /// through it could land outside the vault).
    pub fn month_dir(&self, month: &str) -> io::Result<PathBuf> {
        let dir = self.dir(Folder::Done).join(month);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let meta = fs::symlink_metadata(&dir)?;
        if meta.file_type().is_symlink() || !meta.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a folder of the vault",
                dir.display()
            )));
        }
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_folder_is_named_by_the_local_month() {
        let at: Timestamp = "2026-11-30T23:30:00Z".parse().unwrap();
        assert_eq!(month_of(at, &TimeZone::UTC), "2026-11");
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(month_of(at, &tokyo), "2026-12");
    }

    #[test]
    fn a_month_folder_that_is_a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::new(
            dir.path().join("v"),
            crate::config::Config::builtin().folders,
        );
        vault.create_folders().unwrap();
        assert!(vault.month_dir("2026-11").unwrap().is_dir());
        assert!(vault.month_dir("2026-11").is_ok(), "made once, then found");
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, vault.dir(Folder::Done).join("2026-12")).unwrap();
        assert!(vault.month_dir("2026-12").is_err());
    }
}
