//! One-time approval codes. A code is derived, not stored: an HMAC-SHA256
//! under the daemon's 32-byte random key (`codes.key`) of the request id,
//! its payload hash and the approver it is for, cut to 8 digits. So it is
//! bound to that request and that payload, each approver gets their own,
//! nothing of it is in the vault, the log or the journal, and the daemon
//! can send it again after a restart. Without the key the code is a random
//! number; guesses are counted (5 wrong reject the request).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Digits in a code: 10^8 values against 5 guesses.
pub const DIGITS: usize = 8;

/// The code for `approver` (`None`: the request's own code) on this request.
pub fn derive(key: &[u8; 32], id: &str, payload_sha256: &str, approver: Option<&str>) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for part in [
        "hitl approval code",
        id,
        payload_sha256,
        approver.unwrap_or(""),
    ] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    let out = mac.finalize().into_bytes();
    let mut head = [0u8; 8];
    head.copy_from_slice(&out[..8]);
    let n = u64::from_be_bytes(head) % 10u64.pow(DIGITS as u32);
    format!("{n:0width$}", width = DIGITS)
}

/// What a person typed, without the spaces and dashes they may have added.
pub fn normalize(given: &str) -> String {
    given
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

/// Compares in time independent of where the texts differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_bound_to_its_request_payload_and_approver() {
        let key = [7u8; 32];
        let c = derive(&key, "a00000000001", "aa", None);
        assert_eq!(c.len(), DIGITS);
        assert!(c.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(c, derive(&key, "a00000000001", "aa", None));
        assert_ne!(c, derive(&key, "a00000000002", "aa", None));
        assert_ne!(c, derive(&key, "a00000000001", "ab", None));
        assert_ne!(c, derive(&key, "a00000000001", "aa", Some("alice")));
        assert_ne!(c, derive(&[8u8; 32], "a00000000001", "aa", None));
    }

    #[test]
    fn typed_codes_may_have_spaces_and_dashes() {
        assert_eq!(normalize(" 1234-5678 "), "12345678");
        assert!(same("12345678", "12345678"));
        assert!(!same("12345678", "12345679"));
        assert!(!same("1234567", "12345678"));
    }
}
