//! The `obsidian://open` link to a note, encoded as Obsidian's docs require:
//! every parameter value URI-encoded like JavaScript's `encodeURIComponent`
//! (so `/` is `%2F`, a space `%20`).

/// `encodeURIComponent`: all but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` as `%XX`
/// of the UTF-8 bytes.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `obsidian://open?vault=VAULT&file=PATH`, `PATH` without `.md` (how
/// Obsidian names a note).
pub fn obsidian_open(vault: &str, note: &str) -> String {
    let file = note.strip_suffix(".md").unwrap_or(note);
    format!(
        "obsidian://open?vault={}&file={}",
        encode_component(vault),
        encode_component(file)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obsidian_link_encodes_slashes_spaces_and_unicode() {
        assert_eq!(
            obsidian_open("my vault", "Pending_Approval/pay 5 €, now&later.md"),
            "obsidian://open?vault=my%20vault&file=Pending_Approval%2Fpay%205%20%E2%82%AC%2C%20now%26later"
        );
        assert_eq!(encode_component("a-b_c.d!~*'()"), "a-b_c.d!~*'()");
    }
}
