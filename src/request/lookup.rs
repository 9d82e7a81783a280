//! What a settled request still answers for without its details: its
//! idempotency key (a keyed retry gets the same request) and its drop-in
//! fingerprint (the same file is never taken twice). Both are kept as
//! stable hashes (SHA-256, first 8 bytes), so a checkpoint can hold them.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::Request;
use super::settled::id_number;

/// The first 8 bytes of the SHA-256 of `parts`, each length-prefixed.
pub fn hash64(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("a SHA-256 has 32 bytes"))
}

/// A settled request's idempotency key: whose it was, for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOwner {
    pub id: u64,
    pub requester: u64,
    pub action: u64,
    pub payload: u64,
}

/// Bytes of one [`KeyOwner`] and its key's hash in a checkpoint.
pub const KEY_BYTES: usize = 40;

impl KeyOwner {
    pub fn of(r: &Request) -> Option<(u64, KeyOwner)> {
        let key = r.sub.key.as_deref()?;
        Some((
            hash64(&[key]),
            KeyOwner {
                id: id_number(&r.id)?,
                requester: hash64(&[&r.sub.requested_by]),
                action: hash64(&[&r.sub.action]),
                payload: hash64(&[&r.sub.payload_sha256]),
            },
        ))
    }

    pub fn to_bytes(key: u64, o: &KeyOwner) -> [u8; KEY_BYTES] {
        let mut b = [0u8; KEY_BYTES];
        for (i, v) in [key, o.id, o.requester, o.action, o.payload]
            .iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<(u64, KeyOwner)> {
        if b.len() != KEY_BYTES {
            return None;
        }
        let at = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        let owner = KeyOwner {
            id: at(1),
            requester: at(2),
            action: at(3),
            payload: at(4),
        };
        Some((at(0), owner))
    }
}

/// The drop-in fingerprint's hash of a request taken from a drop-in note.
pub fn drop_in_of(r: &Request) -> Option<(u64, u64)> {
    let fp = r.sub.drop_in_sha256.as_deref()?;
    Some((drop_in_hash(&r.sub.file_name, fp), id_number(&r.id)?))
}

pub fn drop_in_hash(file_name: &str, fingerprint: &str) -> u64 {
    hash64(&[file_name, fingerprint])
}

/// The keys and drop-ins of settled requests.
#[derive(Debug, Default, Clone)]
pub struct SettledLookups {
    pub keys: HashMap<u64, KeyOwner>,
    pub drop_ins: HashMap<u64, u64>,
}

impl SettledLookups {
    /// Remembers what `r` (settling now) still answers for.
    pub fn remember(&mut self, r: &Request) {
        if let Some((k, o)) = KeyOwner::of(r) {
            self.keys.insert(k, o);
        }
        if let Some((h, id)) = drop_in_of(r) {
            self.drop_ins.insert(h, id);
        }
    }
}
