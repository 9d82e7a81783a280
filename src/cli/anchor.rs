//! `hitl audit verify --anchor SEQ:MAC`: after the chain checks, that the
//! journal's line SEQ still has the MAC an audit anchor sent out earlier
//! (see [`crate::notify::anchor`]). A journal re-chained with the key passes
//! the chain check but not this one.

use std::path::Path;

use anyhow::Result;

use super::place::ERROR;
use crate::journal;

/// An anchor as the message shows it: `SEQ:MAC`.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchor {
    pub seq: u64,
    pub mac: String,
}

/// Reads `SEQ:MAC` (the MAC 64 hex digits, any case).
pub fn parse(text: &str) -> Result<Anchor, String> {
    let (seq, mac) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected SEQ:MAC, e.g. 42:3fa9…"))?;
    let seq: u64 = seq
        .trim()
        .parse()
        .map_err(|_| format!("{seq:?}: SEQ must be a line number"))?;
    let mac = mac.trim().to_ascii_lowercase();
    if seq == 0 {
        return Err("SEQ starts at 1".into());
    }
    if mac.len() != 64 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{mac:?}: MAC must be 64 hex digits"));
    }
    Ok(Anchor { seq, mac })
}

/// Checks the journal's line `a.seq` against the anchor; prints the
/// outcome, exit 1 naming the line when it differs or is gone.
pub(super) fn check(path: &Path, a: &Anchor) -> Result<u8> {
    let mut found: Option<String> = None;
    let mut events = 0u64;
    journal::for_each(path, |r| {
        events = r.seq;
        if r.seq == a.seq {
            found = Some(r.hash);
        }
    })?;
    match found {
        Some(mac) if mac == a.mac => {
            println!(
                "anchor matches: line {} has mac {}; the history up to it is the one anchored",
                a.seq, a.mac
            );
            Ok(0)
        }
        Some(mac) => {
            println!(
                "anchor does NOT match: line {} has mac {mac}, the anchor says {}; the journal up to line {} was rewritten (re-chained) after the anchor was sent",
                a.seq, a.mac, a.seq
            );
            Ok(ERROR)
        }
        None => {
            println!(
                "anchor does NOT match: line {} is not in the journal (it has {events} lines); the journal was cut or replaced after the anchor was sent",
                a.seq
            );
            Ok(ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anchor_reads_as_seq_colon_mac() {
        let mac = "AB".repeat(32);
        assert_eq!(
            parse(&format!("12:{mac}")),
            Ok(Anchor {
                seq: 12,
                mac: mac.to_ascii_lowercase()
            })
        );
        assert!(parse("12").is_err());
        assert!(parse("x:ab").is_err());
        assert!(parse(&format!("0:{mac}")).is_err());
        assert!(parse("3:abc").is_err());
    }
}
