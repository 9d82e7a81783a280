//! Request notes: the markdown views of requests in the vault.
//!
//! [`parse`] reads what a person (or an agent) did to a note; [`render`]
//! produces the daemon's view of a request while keeping every line the
//! daemon does not own. Both are pure: no files, no clock.

pub mod blocks;
mod check;
pub mod history;
mod parse;
mod properties;
mod render;

use blocks::Unclosed;

pub use check::{Changes, changes};
pub use parse::{NoteError, NoteView, parse};
pub(crate) use properties::local;
pub(crate) use render::inline;
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

/// What a section of a note's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    /// Everything above the daemon's first section: title, risk callout,
    /// summary and payload block. The daemon owns it.
    Head,
    Decision,
    Result,
    History,
    /// A section the human (or a requester) added, with its heading.
    Human(&'a str),
}

/// A part of a note's body and its lines (the heading line not included).
#[derive(Debug, Clone, PartialEq)]
pub struct Section<'a> {
    pub part: Part<'a>,
    pub lines: Vec<&'a str>,
}

/// The daemon's own headings, in the order it writes them.
const DAEMON_PARTS: [Part<'static>; 3] = [Part::Decision, Part::Result, Part::History];

fn daemon_heading(line: &str) -> Option<usize> {
    let title = line.strip_prefix("## ")?.trim();
    ["decision", "result", "history"]
        .iter()
        .position(|h| title.eq_ignore_ascii_case(h))
}

/// Cuts a body into sections: the head, then the daemon's sections and the
/// human's, in the order they appear.
///
/// The daemon's headings are found first, each at most once and in order,
/// so nothing a person writes (a fence left open, a comment, a look-alike
/// heading further down) can make the daemon's own sections disappear into
/// human text and be copied again at each rewrite. Above `## Result` they
/// count wherever they are; from there on the daemon's fenced handler
/// output may hold any line, so fences are respected. Inside each part, a
/// `## ` heading outside a closed block starts a human section.
pub fn sections(body: &str) -> Vec<Section<'_>> {
    let lines: Vec<&str> = body.lines().collect();
    let cuts = daemon_cuts(&lines);
    let mut out = vec![Section {
        part: Part::Head,
        lines: lines[..cuts.first().map_or(lines.len(), |c| c.0)].to_vec(),
    }];
    for (n, &(at, k)) in cuts.iter().enumerate() {
        let end = cuts.get(n + 1).map_or(lines.len(), |c| c.0);
        split_human(&mut out, DAEMON_PARTS[k], &lines[at + 1..end]);
    }
    out
}

/// `(line index, index in DAEMON_PARTS)` of each daemon heading.
fn daemon_cuts(lines: &[&str]) -> Vec<(usize, usize)> {
    let mut cuts = Vec::new();
    let mut next = 0;
    for (i, line) in lines.iter().enumerate() {
        match daemon_heading(line) {
            Some(k) if k >= next => {
                cuts.push((i, k));
                next = k + 1;
                if k >= 1 {
                    break;
                }
            }
            _ => {}
        }
    }
    if let Some(&(start, 1)) = cuts.last() {
        let rest = &lines[start + 1..];
        let hidden = blocks::hidden(rest, Unclosed::Text);
        if let Some(j) = (0..rest.len()).find(|&j| !hidden[j] && daemon_heading(rest[j]) == Some(2))
        {
            cuts.push((start + 1 + j, 2));
        }
    }
    cuts
}

fn split_human<'a>(out: &mut Vec<Section<'a>>, part: Part<'a>, lines: &[&'a str]) {
    let hidden = blocks::hidden(lines, Unclosed::Text);
    out.push(Section {
        part,
        lines: Vec::new(),
    });
    for (line, hidden) in lines.iter().zip(hidden) {
        if !hidden && let Some(title) = line.strip_prefix("## ") {
            out.push(Section {
                part: Part::Human(title.trim()),
                lines: Vec::new(),
            });
            continue;
        }
        out.last_mut().expect("always one section").lines.push(line);
    }
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

    fn parts<'a>(s: &[Section<'a>]) -> Vec<Part<'a>> {
        s.iter().map(|s| s.part).collect()
    }

    #[test]
    fn sections_ignore_headings_inside_fences() {
        let body =
            "# T\n```json\n## not a heading\n```\n## Decision\n- [ ] Approve\n## Mine\ntext\n";
        let s = sections(body);
        assert_eq!(parts(&s), [Part::Head, Part::Decision, Part::Human("Mine")]);
        assert_eq!(s[0].lines, ["# T", "```json", "## not a heading", "```"]);
        assert_eq!(s[1].lines, ["- [ ] Approve"]);
        assert_eq!(s[2].lines, ["text"]);
    }

    #[test]
    fn an_open_fence_cannot_swallow_the_daemon_sections() {
        let body = "# T\n## Decision\n- [ ] Approve\n```\n## Result\n````text\n## History\n````\n## History\n- h\n## Mine\n```\nx\n```\n";
        let s = sections(body);
        assert_eq!(
            parts(&s),
            [
                Part::Head,
                Part::Decision,
                Part::Result,
                Part::History,
                Part::Human("Mine")
            ]
        );
        assert_eq!(s[1].lines, ["- [ ] Approve", "```"]);
        assert_eq!(s[2].lines, ["````text", "## History", "````"]);
    }

    #[test]
    fn headings_above_the_decision_are_part_of_the_head() {
        let s = sections("# T\n## Details\n```json\n{}\n```\n## Decision\n## decision\n");
        assert_eq!(
            parts(&s),
            [Part::Head, Part::Decision, Part::Human("decision")]
        );
        assert_eq!(s[0].lines.len(), 5);
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
mod final_golden;
#[cfg(test)]
mod golden;
