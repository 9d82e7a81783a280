//! Request notes: the markdown views of requests in the vault.
//!
//! [`parse`] reads what a person (or an agent) did to a note; [`render`]
//! produces the daemon's view of a request while keeping every line the
//! daemon does not own. Both are pure: no files, no clock.

mod parse;
mod render;

pub use parse::{NoteError, NoteView, parse};
pub use render::{Existing, render};

/// Frontmatter keys the daemon owns; all others belong to the human.
pub const DAEMON_KEYS: &[&str] = &[
    "type",
    "hitl_id",
    "action",
    "status",
    "risk",
    "summary",
    "rationale",
    "requested_by",
    "created",
    "expires",
    "payload_sha256",
    "decided_by",
    "decided_at",
    "executed_at",
    "exit_code",
];

/// The prefix of the daemon's warning callout in the Decision section.
pub const WARNING_MARK: &str = "> [!warning] hitl";

/// A note's text cut into frontmatter and body.
#[derive(Debug, PartialEq)]
pub struct Split<'a> {
    /// The YAML between the `---` lines, when the note has frontmatter.
    pub frontmatter: Option<&'a str>,
    pub body: &'a str,
    /// The note opens a frontmatter block that never closes: most likely
    /// still being written.
    pub unterminated: bool,
}

pub fn split(text: &str) -> Split<'_> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return Split {
            frontmatter: None,
            body: text,
            unterminated: false,
        };
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare == "..." {
            return Split {
                frontmatter: Some(&rest[..offset]),
                body: &rest[offset + line.len()..],
                unterminated: false,
            };
        }
        offset += line.len();
    }
    Split {
        frontmatter: None,
        body: text,
        unterminated: true,
    }
}

/// Cuts a body into sections at `## ` headings: the preamble (heading
/// `None`) and then one entry per heading, with the lines under it.
pub fn sections(body: &str) -> Vec<(Option<&str>, Vec<&str>)> {
    let mut out: Vec<(Option<&str>, Vec<&str>)> = vec![(None, Vec::new())];
    let mut in_fence: Option<&str> = None;
    for line in body.lines() {
        let trimmed = line.trim_start();
        if let Some(fence) = in_fence {
            if trimmed.starts_with(fence) && trimmed.trim_end().chars().all(|c| c == '`') {
                in_fence = None;
            }
        } else if trimmed.starts_with("```") {
            let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
            in_fence = Some(&trimmed[..ticks]);
        } else if let Some(title) = line.strip_prefix("## ") {
            out.push((Some(title.trim()), Vec::new()));
            continue;
        }
        out.last_mut().expect("always one section").1.push(line);
    }
    out
}

/// Top-level frontmatter entries as text blocks: `(key, lines)`. A block is a
/// key line and the indented or list lines under it; comments and blank
/// lines stay with the block above them (or open the first one keyless).
pub fn frontmatter_blocks(yaml: &str) -> Vec<(Option<String>, String)> {
    let mut out: Vec<(Option<String>, String)> = Vec::new();
    for line in yaml.split_inclusive('\n') {
        let starts_entry =
            !line.starts_with([' ', '\t', '#', '-', '\n', '\r']) && line.contains(':');
        if starts_entry {
            let key = line
                .split(':')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches(['"', '\'']);
            out.push((Some(key.to_string()), line.to_string()));
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(line);
        } else {
            out.push((None, line.to_string()));
        }
    }
    for block in &mut out {
        if !block.1.ends_with('\n') {
            block.1.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_frontmatter() {
        let s = split("---\na: 1\n---\n# Title\n");
        assert_eq!(s.frontmatter, Some("a: 1\n"));
        assert_eq!(s.body, "# Title\n");
        assert!(split("---\na: 1\nb: [").unterminated);
        assert_eq!(split("# no props\n").frontmatter, None);
    }

    #[test]
    fn sections_ignore_headings_inside_fences() {
        let body =
            "# T\n```json\n## not a heading\n```\n## Decision\n- [ ] Approve\n## Mine\ntext\n";
        let s = sections(body);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].1, ["# T", "```json", "## not a heading", "```"]);
        assert_eq!(s[1], (Some("Decision"), vec!["- [ ] Approve"]));
        assert_eq!(s[2], (Some("Mine"), vec!["text"]));
    }

    #[test]
    fn blocks_keep_nested_lines_and_comments() {
        let b = frontmatter_blocks("a: 1\ntags:\n  - x\n# note\n\"b c\": 2");
        assert_eq!(b.len(), 3);
        assert_eq!(b[1], (Some("tags".into()), "tags:\n  - x\n# note\n".into()));
        assert_eq!(b[2].0.as_deref(), Some("b c"));
    }
}

#[cfg(test)]
mod golden;
