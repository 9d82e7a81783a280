//! Secrets (an SMTP password, a webhook token): named in the config by
//! where they live (`*_env`, `*_file`), read only when a channel is built,
//! and never shown: `Debug` and every error name the source, not the value.

use std::path::PathBuf;

/// Where a secret is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// A secret's value. `Debug` prints `<hidden>`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

impl Secret {
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set (or not UTF-8)")]
    MissingEnv(String),
    #[error("cannot read secret file {}: {}", .0.display(), .1.kind())]
    File(PathBuf, std::io::Error),
    #[error("secret from {0} is empty")]
    Empty(String),
}

impl SecretSource {
    /// Reads the secret; a file's trailing newline is not part of it.
    pub fn read(&self) -> Result<Secret, SecretError> {
        let (value, name) = match self {
            SecretSource::Env(name) => (
                std::env::var(name).map_err(|_| SecretError::MissingEnv(name.clone()))?,
                name.clone(),
            ),
            SecretSource::File(path) => (
                std::fs::read_to_string(path).map_err(|e| SecretError::File(path.clone(), e))?,
                path.display().to_string(),
            ),
        };
        let value = value.trim_end_matches(['\r', '\n']).to_string();
        if value.is_empty() {
            return Err(SecretError::Empty(name));
        }
        Ok(Secret(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_and_errors_never_show_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2-known-secret\n").unwrap();
        let s = SecretSource::File(path).read().unwrap();
        assert_eq!(s.expose(), "hunter2-known-secret");
        assert_eq!(format!("{s:?}"), "<hidden>");
        let e = SecretSource::File(dir.path().join("none"))
            .read()
            .unwrap_err();
        assert!(e.to_string().contains("cannot read secret file"), "{e}");
    }
}
