//! RFC 6238 time-based codes, as authenticator apps make them: HMAC-SHA1,
//! 6 digits, 30-second steps (the parameters every app supports). Written
//! on `hmac` and `sha1` (two small RustCrypto crates) rather than a TOTP
//! crate: the algorithm is a dozen lines, and a crate would bring its own
//! base32, URL and clock code we don't need. A step is accepted once for
//! all requests (the machine keeps the used steps, from the journal).

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;

/// The 6-digit code of time step `step`.
pub fn code_at(secret: &[u8], step: u64) -> String {
    let mut mac =
        <Hmac<Sha1> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[h.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!("{:06}", bin % 10u32.pow(DIGITS))
}

/// The step `given` is the code of, within one step of `now` either way
/// (clocks drift), if any.
pub fn matching_step(secret: &[u8], given: &str, now_unix: i64) -> Option<u64> {
    let now = u64::try_from(now_unix.div_euclid(STEP_SECONDS)).ok()?;
    [now, now.saturating_sub(1), now + 1]
        .into_iter()
        .find(|s| super::code::same(&code_at(secret, *s), given))
}

/// A new 20-byte secret (RFC 4226's recommended length).
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    getrandom::fill(&mut s).expect("the kernel's random generator is available");
    s
}

/// The `otpauth://` URI an authenticator app enrolls from.
pub fn uri(secret: &[u8], account: &str) -> String {
    let account = crate::notify::uri::encode_component(account);
    format!(
        "otpauth://totp/hitl:{account}?secret={}&issuer=hitl&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        base32_encode(secret)
    )
}

/// The URI as a QR code in the terminal (two rows per character).
pub fn qr(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build(),
    )
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as otpauth URIs carry secrets.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').chars() {
        let v = ALPHABET
            .iter()
            .position(|a| *a as char == c.to_ascii_uppercase())? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_test_vectors() {
        // RFC 6238 appendix B, SHA1 key "12345678901234567890", last 6 digits.
        let secret = b"12345678901234567890";
        for (time, want) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(secret, time / 30), want, "{time}");
            assert_eq!(matching_step(secret, want, time as i64), Some(time / 30));
        }
        assert_eq!(matching_step(secret, "287082", 59 + 3 * 30), None);
    }

    #[test]
    fn base32_reads_back_and_the_uri_names_the_parameters() {
        let s = b"12345678901234567890";
        assert_eq!(base32_encode(s), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32_decode(&base32_encode(s)).unwrap(), s);
        assert_eq!(base32_decode("gezdgnbv").unwrap(), b"12345");
        let uri = uri(s, "alice");
        assert!(uri.starts_with("otpauth://totp/hitl:alice?secret=GEZDG"));
        assert!(qr(&uri).unwrap().contains('█'));
    }
}
