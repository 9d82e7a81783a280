//! Run markers: `runs/<id>.<attempt>` in the state folder, one per handler
//! start, created with `O_EXCL` and fsynced (file and folder) before the
//! handler's process is spawned.
//!
//! They make "at most once" hold even when the journal's tail is lost: a
//! run whose marker exists is never started again, whatever the journal
//! says. And they tell recovery whether a run the journal calls `executing`
//! ever started: no marker, no start, so recovery starts it instead of
//! declaring its outcome unknown. Named per attempt, since an idempotent
//! handler may be started a second time with the same key.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub(super) enum MarkerError {
    #[error("run marker {0} already exists: this run was started before")]
    Exists(PathBuf),
    #[error("run marker {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

pub(super) fn runs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("runs")
}

/// Creates the runs folder (and makes its entry in the state folder durable).
pub(super) fn prepare(state_dir: &Path) -> std::io::Result<()> {
    let dir = runs_dir(state_dir);
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir)?;
        File::open(state_dir)?.sync_all()?;
    }
    Ok(())
}

/// The marker's path. Ids are the daemon's (12 hex digits), but a name is
/// never built from anything that could leave the folder.
fn marker(state_dir: &Path, id: &str, attempt: u32) -> PathBuf {
    let plain = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let name = if plain {
        format!("{id}.{attempt}")
    } else {
        let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
        format!("x{hex}.{attempt}")
    };
    runs_dir(state_dir).join(name)
}

/// Records that attempt `attempt` of request `id` is starting. Fails with
/// [`MarkerError::Exists`] if it was started before.
pub(super) fn create(state_dir: &Path, id: &str, attempt: u32) -> Result<(), MarkerError> {
    let path = marker(state_dir, id, attempt);
    let io = |error| MarkerError::Io {
        path: path.clone(),
        error,
    };
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(MarkerError::Exists(path));
        }
        Err(e) => return Err(io(e)),
    };
    let line = format!(
        "started {} by pid {}\n",
        jiff::Timestamp::now(),
        std::process::id()
    );
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    File::open(runs_dir(state_dir))
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

/// Whether attempt `attempt` of request `id` was started. When in doubt
/// (the folder can't be read) the answer is yes: a run is never repeated
/// on a guess.
pub(super) fn started(state_dir: &Path, id: &str, attempt: u32) -> bool {
    match std::fs::symlink_metadata(marker(state_dir, id, attempt)) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_is_created_once_per_attempt() {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path()).unwrap();
        assert!(!started(dir.path(), "abc123", 1));
        create(dir.path(), "abc123", 1).unwrap();
        assert!(started(dir.path(), "abc123", 1));
        assert!(matches!(
            create(dir.path(), "abc123", 1),
            Err(MarkerError::Exists(_))
        ));
        create(dir.path(), "abc123", 2).unwrap();
        assert!(!started(dir.path(), "abc123", 3));
    }

    #[test]
    fn an_odd_id_never_leaves_the_runs_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = marker(dir.path(), "../../etc/x", 1);
        assert_eq!(path.parent(), Some(runs_dir(dir.path()).as_path()));
    }
}
