//! The names of files the daemon makes in the vault: bounded, whatever the
//! name a drop-in arrived with (file systems allow 255 bytes per name).

/// The most bytes in a note name the daemon makes; file systems allow 255,
/// and a temp name adds to it.
pub const MAX_NOTE_NAME: usize = 200;
/// File systems' limit on one name.
pub(super) const NAME_MAX: usize = 255;

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The name of the note that must not take `name` (already used by
/// another file): the request id added, within [`MAX_NOTE_NAME`].
pub fn second_name(name: &str, id: &str) -> String {
    let stem = name.strip_suffix(".md").unwrap_or(name);
    let suffix = format!("-{id}.md");
    let stem = cut(stem, MAX_NOTE_NAME.saturating_sub(suffix.len()));
    format!("{stem}{suffix}")
}

/// Characters an Obsidian link reads as syntax (`[[a#b]]` is note `a`'s
/// heading `b`, `|` starts an alias): a note named with one can't be linked
/// to, and a link to it would open another note.
pub const LINK_SYNTAX: &[char] = &['#', '^', '|', '[', ']'];

/// The name a note is written under in a folder: its own name unless
/// another file has it, it is too long to be a name at all, or it holds
/// [`LINK_SYNTAX`] (a drop-in's name; those characters become `-`).
pub fn note_name(name: &str, id: &str, taken: bool) -> String {
    if name.contains(LINK_SYNTAX) {
        second_name(&name.replace(LINK_SYNTAX, "-"), id)
    } else if taken || name.len() > NAME_MAX || name.is_empty() {
        second_name(name, id)
    } else {
        name.to_string()
    }
}

/// A temp name beside `name`, within the file system's limit whatever the
/// length of `name`; it starts with a dot, so it is never read as a note.
pub(super) fn temp_name(name: &str, nonce: &str) -> String {
    let fixed = ".hitl-".len() + nonce.len() + "-".len() + ".tmp".len();
    format!(
        ".hitl-{nonce}-{}.tmp",
        cut(name, NAME_MAX.saturating_sub(fixed))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_daemon_makes_are_bounded() {
        let long = format!("{}.md", "x".repeat(240));
        let id = "abcdef012345";
        // (name, taken) -> expected
        let table: &[(&str, bool, &str)] = &[
            ("pay.md", false, "pay.md"),
            ("pay.md", true, "pay-abcdef012345.md"),
            ("pay", true, "pay-abcdef012345.md"),
            ("Safe#x.md", false, "Safe-x-abcdef012345.md"),
            ("a|b[c]^.md", false, "a-b-c---abcdef012345.md"),
            ("", false, "-abcdef012345.md"),
        ];
        for (name, taken, want) in table {
            assert_eq!(note_name(name, id, *taken), *want, "{name} {taken}");
        }
        assert_eq!(note_name(&long, id, false), long);
        let second = note_name(&long, id, true);
        assert!(second.len() <= MAX_NOTE_NAME && second.ends_with("-abcdef012345.md"));
        let wide = format!("{}.md", "é".repeat(127));
        assert!(note_name(&wide, id, true).len() <= MAX_NOTE_NAME);
        let tmp = temp_name(&format!("{}.md", "é".repeat(127)), id);
        assert!(tmp.len() <= NAME_MAX && tmp.starts_with(".hitl-"), "{tmp}");
    }

    #[test]
    fn atomic_write_of_a_longest_name_fits_its_temp_name() {
        let dir = tempfile::tempdir().unwrap();
        let note = dir.path().join(format!("{}.md", "n".repeat(NAME_MAX - 3)));
        super::super::write_atomic(&note, "note").unwrap();
        assert_eq!(std::fs::read_to_string(&note).unwrap(), "note");
    }
}
