//! The daemon's trust secrets, each a file only its owner can read in the
//! state folder, made at first need: `codes.key` (32 random bytes, what
//! approval codes are derived with) and `totp.secret` (the authenticator
//! app's secret, base32, made by `hitl totp enroll`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: not a key hitl wrote ({problem})")]
    Bad { path: PathBuf, problem: String },
    #[error("{path} can be read by others (mode {mode:o}): make it 0600")]
    Exposed { path: PathBuf, mode: u32 },
}

/// The secrets a running daemon verifies codes with.
#[derive(Clone)]
pub struct Keys {
    pub codes: [u8; 32],
    /// The authenticator app's secret, once enrolled.
    pub totp: Option<Vec<u8>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("totp_enrolled", &self.totp.is_some())
            .finish_non_exhaustive()
    }
}

pub fn codes_key_path(state_dir: &Path) -> PathBuf {
    state_dir.join("codes.key")
}

pub fn totp_path(state_dir: &Path) -> PathBuf {
    state_dir.join("totp.secret")
}

impl Keys {
    /// Reads the keys, making the codes key if there is none yet.
    pub fn load(state_dir: &Path) -> Result<Keys, KeyError> {
        let path = codes_key_path(state_dir);
        let bytes = match read_private(&path)? {
            Some(b) => b,
            None => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).expect("the kernel's random generator is available");
                write_private(&path, &key)?;
                key.to_vec()
            }
        };
        let codes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyError::Bad {
            path: path.clone(),
            problem: format!("{} bytes, not 32", bytes.len()),
        })?;
        let tpath = totp_path(state_dir);
        let totp = match read_private(&tpath)? {
            None => None,
            Some(text) => Some(
                super::totp::base32_decode(String::from_utf8_lossy(&text).trim()).ok_or_else(
                    || KeyError::Bad {
                        path: tpath.clone(),
                        problem: "not base32".into(),
                    },
                )?,
            ),
        };
        Ok(Keys { codes, totp })
    }
}

/// A file's bytes, `None` if it doesn't exist; refused if others can read it.
fn read_private(path: &Path) -> Result<Option<Vec<u8>>, KeyError> {
    let io = |error| KeyError::Io {
        path: path.to_path_buf(),
        error,
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            return Err(KeyError::Exposed {
                path: path.to_path_buf(),
                mode: m.permissions().mode() & 0o777,
            });
        }
        Ok(_) => {}
    }
    std::fs::read(path).map(Some).map_err(io)
}

/// Writes a new secret file, 0600, fsynced; never over an existing one.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let io = |error| KeyError::Io {
        path: path.to_path_buf(),
        error,
    };
    crate::journal::key::create_secret(path, bytes).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_key_is_made_once_and_only_its_owner_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = Keys::load(dir.path()).unwrap();
        let b = Keys::load(dir.path()).unwrap();
        assert_eq!(a.codes, b.codes);
        let mode = std::fs::metadata(codes_key_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(
            codes_key_path(dir.path()),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        assert!(matches!(
            Keys::load(dir.path()),
            Err(KeyError::Exposed { .. })
        ));
    }
}
