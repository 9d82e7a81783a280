//! Bounded reads of vault files: regular files only, their type checked
//! before any open and again on the descriptor, no symlinks out of the
//! vault, a size cap, strict UTF-8, no NULs.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{ReadError, Vault};

impl Vault {
    /// Reads a note with the vault's bounds. `Ok(None)`: the file is gone.
    ///
    /// The type is checked before the file is opened, and again on the open
    /// descriptor (opened non-blocking, not following a symlink): a FIFO,
    /// socket, device or directory is never read, so none can stall the
    /// daemon, even behind a symlink or swapped in between.
    pub fn read(&self, path: &Path, cap: u64) -> Result<Option<String>, ReadError> {
        Ok(self.read_with_meta(path, cap)?.map(|(text, _)| text))
    }

    /// [`Vault::read`], with the metadata of the file read, taken on its
    /// descriptor before reading (so a later change changes it).
    pub fn read_with_meta(
        &self,
        path: &Path,
        cap: u64,
    ) -> Result<Option<(String, fs::Metadata)>, ReadError> {
        let io = |error| ReadError::Io {
            path: path.to_path_buf(),
            error,
        };
        let Some(target) = self.regular_file(path)? else {
            return Ok(None);
        };
        let mut file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
            .open(&target)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(ReadError::NotAFile {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(io(e)),
        };
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(ReadError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        Ok(read_bounded(&mut file, meta.len(), cap, path)?.map(|text| (text, meta)))
    }

    /// The regular file to open for `path`: the path itself, or a symlink's
    /// target inside the vault. Checked without opening anything.
    fn regular_file(&self, path: &Path) -> Result<Option<PathBuf>, ReadError> {
        let io = |error| ReadError::Io {
            path: path.to_path_buf(),
            error,
        };
        let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if gone(&e) => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let (target, meta) = if meta.file_type().is_symlink() {
            let target = fs::canonicalize(path).map_err(io)?;
            let root = fs::canonicalize(&self.root).map_err(io)?;
            if !target.starts_with(&root) {
                return Err(ReadError::SymlinkOut {
                    path: path.to_path_buf(),
                });
            }
            let meta = match fs::symlink_metadata(&target) {
                Ok(m) => m,
                Err(e) if gone(&e) => return Ok(None),
                Err(e) => return Err(io(e)),
            };
            (target, meta)
        } else {
            (path.to_path_buf(), meta)
        };
        if !meta.is_file() {
            return Err(ReadError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        Ok(Some(target))
    }
}

/// Reads at most `cap` bytes of strict UTF-8 text without NULs.
fn read_bounded(
    file: &mut File,
    len: u64,
    cap: u64,
    path: &Path,
) -> Result<Option<String>, ReadError> {
    if len > cap {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            size: len,
            cap,
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    Read::by_ref(file)
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| ReadError::Io {
            path: path.to_path_buf(),
            error,
        })?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            cap,
        });
    }
    if bytes.contains(&0) {
        return Err(ReadError::Binary {
            path: path.to_path_buf(),
        });
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| ReadError::NotUtf8 {
            path: path.to_path_buf(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_or_folder_named_like_a_note_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::new(
            dir.path().to_path_buf(),
            crate::config::Config::builtin().folders,
        );
        let fifo = dir.path().join("pipe.md");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let link = dir.path().join("link.md");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        std::fs::create_dir(dir.path().join("folder.md")).unwrap();
        for name in ["pipe.md", "link.md", "folder.md"] {
            let got = vault.read(&dir.path().join(name), 1024);
            assert!(
                matches!(got, Err(ReadError::NotAFile { .. })),
                "{name}: {got:?}"
            );
        }
    }
}
