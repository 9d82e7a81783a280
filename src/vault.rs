//! The vault on disk: where notes are, which files count, bounded reads and
//! atomic writes. Everything read here is untrusted.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Folders;

mod batch;
mod closer;
mod months;
mod names;
mod read;
mod stamp;
mod swap;
pub use batch::{BatchWrite, move_notes, write_atomic_all};
pub use months::month_of;
use names::temp_name;
pub use names::{MAX_NOTE_NAME, note_name, second_name};
pub use stamp::{Stamp, stamp};
pub use swap::free_spares;

/// A folder of the vault a request's note can be in; where it is says
/// what the person did (moved it to `Approved/`...) or that it is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    Pending,
    Approved,
    Rejected,
    Done,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: a symlink pointing outside the vault; ignored")]
    SymlinkOut { path: PathBuf },
    #[error("{path}: not a regular file; ignored")]
    NotAFile { path: PathBuf },
    #[error("{path}: {size} bytes, over the {cap}-byte cap for notes; ignored")]
    TooLarge { path: PathBuf, size: u64, cap: u64 },
    #[error("{path}: binary content, not a note; ignored")]
    Binary { path: PathBuf },
    #[error("{path}: not valid UTF-8; ignored")]
    NotUtf8 { path: PathBuf },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// The vault root and its folders.
#[derive(Debug, Clone)]
pub struct Vault {
    pub root: PathBuf,
    pub folders: Folders,
}

/// How a file name is treated.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    Note,
    /// A sync tool's conflict copy: warned about, never read as a request.
    ConflictCopy,
    Ignored,
}

pub fn classify(name: &str) -> Kind {
    if name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || !name.ends_with(".md")
    {
        return Kind::Ignored;
    }
    if name.contains(".sync-conflict-")
        || name.contains("(Conflicted copy")
        || name.contains("(conflicted copy")
    {
        return Kind::ConflictCopy;
    }
    Kind::Note
}

impl Vault {
    pub fn new(root: PathBuf, folders: Folders) -> Vault {
        Vault { root, folders }
    }

    pub fn dir(&self, folder: Folder) -> PathBuf {
        let name = match folder {
            Folder::Pending => &self.folders.pending,
            Folder::Approved => &self.folders.approved,
            Folder::Rejected => &self.folders.rejected,
            Folder::Done => &self.folders.done,
        };
        self.root.join(name)
    }

    /// The folders the daemon watches: where decisions happen, and `Done/`,
    /// whose notes are views the daemon keeps right.
    pub fn watched(&self) -> [(Folder, PathBuf); 4] {
        [
            Folder::Pending,
            Folder::Approved,
            Folder::Rejected,
            Folder::Done,
        ]
        .map(|f| (f, self.dir(f)))
    }

    /// Why the vault can't be used now, naming the folder: each watched
    /// folder must be a real, readable directory inside the vault (a
    /// symlink to elsewhere would make the daemon read and write outside
    /// it). `None`: usable.
    pub fn unusable(&self) -> Option<String> {
        let root = match fs::canonicalize(&self.root) {
            Ok(r) => r,
            Err(e) => return Some(format!("{}: {e}", self.root.display())),
        };
        self.watched()
            .iter()
            .find_map(|(_, dir)| check_folder(&root, dir).err())
    }

    /// The folder a note at `path` is in; a subfolder of `Done/` (a month
    /// of history) counts as `Done/`.
    pub fn folder_of(&self, path: &Path) -> Option<Folder> {
        let parent = path.parent()?;
        if parent.parent() == Some(self.dir(Folder::Done).as_path()) {
            return Some(Folder::Done);
        }
        [
            Folder::Pending,
            Folder::Approved,
            Folder::Rejected,
            Folder::Done,
        ]
        .into_iter()
        .find(|f| self.dir(*f) == parent)
    }

    /// Every folder notes are read from, each watched non-recursively: the
    /// watched folders and the real subfolders of `Done/`.
    pub fn note_dirs(&self) -> Vec<PathBuf> {
        let done = self.dir(Folder::Done);
        let mut out: Vec<PathBuf> = self.watched().into_iter().map(|(_, d)| d).collect();
        let subfolders = fs::read_dir(&done).into_iter().flatten().flatten();
        out.extend(
            subfolders
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.path()),
        );
        out
    }

    /// Whether `path` is a (real) subfolder of `Done/`, which then needs a
    /// watch of its own.
    pub fn is_done_subfolder(&self, path: &Path) -> bool {
        path.parent() == Some(self.dir(Folder::Done).as_path())
            && fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
    }

    pub fn create_folders(&self) -> std::io::Result<()> {
        for f in [
            Folder::Pending,
            Folder::Approved,
            Folder::Rejected,
            Folder::Done,
        ] {
            fs::create_dir_all(self.dir(f))?;
        }
        Ok(())
    }
}

/// The files in one folder (file names only pass [`classify`] later).
pub fn list_dir(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    out
}

/// A watched folder must be a real directory inside the (canonical) root.
fn check_folder(root: &Path, dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("{shown}: {e}"))?;
    if meta.file_type().is_symlink() {
        return Err(format!("{shown} is a symlink, not a folder of the vault"));
    }
    if !meta.is_dir() {
        return Err(format!("{shown} is not a folder"));
    }
    let real = fs::canonicalize(dir).map_err(|e| format!("{shown}: {e}"))?;
    if !real.starts_with(root) {
        return Err(format!("{shown} is outside the vault"));
    }
    fs::read_dir(dir).map_err(|e| format!("{shown}: {e}"))?;
    Ok(())
}

/// Replaces `path` atomically: a temp file in the same folder, fsync,
/// rename, fsync of the folder.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    write_atomic_if(path, contents, None).map(|_| ())
}

/// Writes `contents` at `path` atomically, like [`write_atomic`], but only
/// if the file there is still the version `read` (its stamp taken before
/// it was read): compare-and-swap, so a person's save between the read and
/// the rename is never overwritten. `Ok(false)`: it changed, nothing was
/// written. `read: None` writes whatever is there.
pub fn write_atomic_if(
    path: &Path,
    contents: &str,
    read: Option<Option<Stamp>>,
) -> std::io::Result<bool> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(temp_name(&name, &crate::request::new_id()));
    batch::failed_write(path)?;
    let written = (|| {
        // create_new (O_EXCL): never follows a symlink someone left at the
        // temp path, never writes into an existing file.
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Checked before and after the exchange (see `swap`); it cleans up
    // the temp file itself.
    match swap::put(&tmp, path, read)? {
        // A single note: the replaced file is freed now (spares are for
        // bursts, see `batch`).
        swap::Put::Done(was) => {
            if was.is_some() {
                let _ = fs::remove_file(&tmp);
            }
        }
        swap::Put::Changed => return Ok(false),
        swap::Put::Unsupported => {
            if !batch::rename_if(&tmp, path, read).inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })? {
                return Ok(false);
            }
        }
    }
    File::open(dir)?.sync_all()?;
    Ok(true)
}

/// Moves a note to another folder of the vault, durably (both folders
/// fsynced).
pub fn move_note(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::rename(from, to)?;
    for dir in [to.parent(), from.parent()].into_iter().flatten() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Puts a warning callout at the top of a note's body, keeping every byte
/// of it. `None` when the note has no closed frontmatter to anchor it or
/// already shows this warning.
pub fn annotate(text: &str, warning: &str) -> Option<String> {
    let line = format!("> [!warning] hitl: {}", warning.replace('\n', " "));
    if text.contains(&line) {
        return None;
    }
    let parts = crate::note::split(text);
    if parts.unterminated {
        return None;
    }
    let head = &text[..text.len() - parts.body.len()];
    Some(format!("{head}{line}\n\n{}", parts.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_over_a_note_saved_since_its_read_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let note = dir.path().join("pay.md");
        fs::write(&note, "old").unwrap();
        let read = stamp(&note);
        fs::write(&note, "the person's save").unwrap();
        assert!(!write_atomic_if(&note, "rendered", Some(read)).unwrap());
        assert_eq!(fs::read_to_string(&note).unwrap(), "the person's save");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "the temp file stays: {left:?}");
        let read = stamp(&note);
        assert!(write_atomic_if(&note, "rendered", Some(read)).unwrap());
        assert_eq!(fs::read_to_string(&note).unwrap(), "rendered");
    }

    #[test]
    fn classify_names() {
        assert_eq!(classify("pay.md"), Kind::Note);
        assert_eq!(classify(".hidden.md"), Kind::Ignored);
        assert_eq!(classify("pay.md.swp"), Kind::Ignored);
        assert_eq!(
            classify("pay.sync-conflict-20260101-abc.md"),
            Kind::ConflictCopy
        );
        assert_eq!(
            classify("pay (Conflicted copy 2026).md"),
            Kind::ConflictCopy
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let note = dir.path().join("n.md");
        for _ in 0..3 {
            write_atomic(&note, "note").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&note).unwrap(), "note");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "no temp files left behind");
    }

    #[test]
    fn annotate_once_after_frontmatter() {
        let t = "---\na: [\n---\nbody\n";
        let once = annotate(t, "bad").unwrap();
        assert_eq!(once, "---\na: [\n---\n> [!warning] hitl: bad\n\nbody\n");
        assert_eq!(annotate(&once, "bad"), None);
    }
    #[test]
    fn watched_folders_must_be_real_folders_inside_the_vault() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("vault");
        let vault = Vault::new(root.clone(), crate::config::Config::builtin().folders);
        vault.create_folders().unwrap();
        assert_eq!(vault.unusable(), None);
        let pending = vault.dir(Folder::Pending);
        std::fs::remove_dir(&pending).unwrap();
        let outside = dir.path().join("elsewhere");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, &pending).unwrap();
        let problem = vault.unusable().unwrap();
        assert!(
            problem.contains("Pending_Approval") && problem.contains("symlink"),
            "{problem}"
        );
        std::fs::remove_file(&pending).unwrap();
        std::fs::write(&pending, "").unwrap();
        assert!(vault.unusable().unwrap().contains("not a folder"));
        std::fs::remove_file(&pending).unwrap();
        assert!(vault.unusable().is_some(), "missing");
    }
}
