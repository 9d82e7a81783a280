//! The journal's key: 32 random bytes in `journal.key` beside the journal,
//! readable by its owner only. Each line's hash is an HMAC-SHA256 under it,
//! so a process that can edit the journal but can't read the key can't
//! re-chain an edited journal.
//!
//! A journal written before the key existed (plain SHA-256 chain) is a
//! *legacy* journal: it is still read and verified, and the daemon upgrades
//! it once at start (see `upgrade.rs`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::JournalError;

pub const KEY_FILE: &str = "journal.key";
const KEY_LEN: usize = 32;

/// How the lines of one journal are hashed.
#[derive(Clone)]
pub enum Chain {
    /// HMAC-SHA256 under the journal key (the key's state kept ready).
    Keyed(Hmac<Sha256>),
    /// Plain SHA-256: a journal written before the key existed.
    Legacy,
}

impl Chain {
    pub fn keyed(key: &[u8; KEY_LEN]) -> Chain {
        Chain::Keyed(Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length"))
    }

    /// The hash of one line's body, as 64 lower-case hex digits.
    pub fn hash(&self, body: &[u8]) -> [u8; 64] {
        self.hash_parts(body, b"")
    }

    /// The hash of a body given in two pieces (a line without its hash
    /// field, then its closing brace), so checking a line copies nothing.
    pub fn hash_parts(&self, head: &[u8], tail: &[u8]) -> [u8; 64] {
        let digest: [u8; 32] = match self {
            Chain::Keyed(mac) => {
                let mut mac = mac.clone();
                mac.update(head);
                mac.update(tail);
                mac.finalize().into_bytes().into()
            }
            Chain::Legacy => {
                let mut sha = Sha256::new();
                sha.update(head);
                sha.update(tail);
                sha.finalize().into()
            }
        };
        hex32(&digest)
    }

    /// A MAC under the journal key, fed in pieces (a checkpoint); `None`
    /// for a journal from before the key, which has none.
    pub fn mac(&self) -> Option<StreamMac> {
        match self {
            Chain::Keyed(mac) => Some(StreamMac(mac.clone())),
            Chain::Legacy => None,
        }
    }

    pub fn is_keyed(&self) -> bool {
        matches!(self, Chain::Keyed(_))
    }
}

/// An HMAC-SHA256 under the journal key, over bytes given in pieces.
pub struct StreamMac(Hmac<Sha256>);

impl StreamMac {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Whether `hex` is the MAC of what was fed (in constant time).
    pub fn verify_hex(self, hex: &[u8]) -> bool {
        let mine = hex32(&self.0.finalize().into_bytes().into());
        hex.len() == mine.len() && hex.iter().zip(mine).fold(0, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    pub fn finish_hex(self) -> [u8; 64] {
        hex32(&self.0.finalize().into_bytes().into())
    }
}

/// Lower-case hex of 32 bytes, by table (the journal's hot loop).
pub fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
    }
    out
}

/// The key file that belongs to the journal at `journal`.
pub fn key_path(journal: &Path) -> PathBuf {
    journal.with_file_name(KEY_FILE)
}

/// Reads the key, or `None` when there is no key file.
pub fn load(path: &Path) -> Result<Option<[u8; KEY_LEN]>, JournalError> {
    let io = |error| JournalError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut key = Vec::with_capacity(KEY_LEN + 1);
    std::io::Read::by_ref(&mut file)
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut key)
        .map_err(io)?;
    let key: [u8; KEY_LEN] = key.try_into().map_err(|k: Vec<u8>| JournalError::Key {
        path: path.to_path_buf(),
        problem: format!("{} bytes where the key has {KEY_LEN}", k.len()),
    })?;
    Ok(Some(key))
}

/// Creates a new random key at `path`: `O_EXCL` (never replaces a key),
/// mode 0600, fsynced with its folder.
pub fn create(path: &Path) -> Result<[u8; KEY_LEN], JournalError> {
    let io = |error| JournalError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| io(std::io::Error::other(e.to_string())))?;
    create_secret(path, &key).map_err(io)?;
    tracing::info!(key = %path.display(), "created the journal key");
    Ok(key)
}

/// Creates `path` holding `bytes`, mode 0600, fsynced with its folder,
/// never over an existing file, and never seen part-written: the bytes go
/// to a temp file first, which is then linked to `path` (`link(2)` fails
/// if `path` exists, as `O_EXCL` does). A kill at any step leaves no file
/// at `path` or the whole one, at worst a stray temp file; never an empty
/// key that every later start would refuse.
pub fn create_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    // One left by a killed process that had this pid.
    let _ = std::fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let linked = (|| {
        // The umask can only narrow the mode; this makes sure of the rest.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fail::fail_point!("secret-before-link");
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    linked?;
    sync_dir(path)
}

/// Fsyncs the folder holding `path`, so a new name in it survives a crash.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}
