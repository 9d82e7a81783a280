//! Reading a note: its properties and the decision gestures in it.

use super::{sections, split};
use crate::yaml::{OrderedMap, YamlError, from_str};

/// Why a note can't be read as properties plus body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoteError {
    #[error("the properties block is not closed with `---` (still being written?)")]
    Unterminated,
    #[error("the properties are not valid YAML: {0}")]
    Yaml(YamlError),
}

/// What a note says, as far as the daemon cares.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NoteView {
    pub props: OrderedMap,
    pub hitl_id: Option<String>,
    pub status: Option<String>,
    pub decision_reason: Option<String>,
    pub code: Option<String>,
    pub ticked_approve: bool,
    pub ticked_reject: bool,
    /// The first fenced `json` block above the Decision section, as text.
    pub payload_block: Option<String>,
    pub body: String,
}

pub fn parse(text: &str) -> Result<NoteView, NoteError> {
    let parts = split(text);
    if parts.unterminated {
        return Err(NoteError::Unterminated);
    }
    let props: OrderedMap = match parts.frontmatter {
        Some(yaml) if !yaml.trim().is_empty() => from_str(yaml).map_err(|e| {
            // Positions inside the note: the frontmatter starts on line 2.
            NoteError::Yaml(YamlError {
                line: e.line + 1,
                ..e
            })
        })?,
        _ => OrderedMap::default(),
    };
    let text_of = |k: &str| {
        props
            .text(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let mut view = NoteView {
        hitl_id: text_of("hitl_id"),
        status: text_of("status"),
        decision_reason: text_of("decision_reason"),
        code: text_of("code"),
        body: parts.body.to_string(),
        ..NoteView::default()
    };
    for (heading, lines) in sections(parts.body) {
        match heading {
            None => view.payload_block = view.payload_block.take().or_else(|| json_block(&lines)),
            Some(h) if h.eq_ignore_ascii_case("decision") => {
                for line in lines {
                    match task(line) {
                        Some((true, "approve")) => view.ticked_approve = true,
                        Some((true, "reject")) => view.ticked_reject = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    view.props = props;
    Ok(view)
}

/// `- [x] Approve` → `(true, "approve")`.
pub(crate) fn task(line: &str) -> Option<(bool, &'static str)> {
    let rest = line
        .trim_start()
        .strip_prefix(['-', '*', '+'])?
        .trim_start();
    let ticked = match rest.get(..3)? {
        "[ ]" => false,
        "[x]" | "[X]" => true,
        _ => return None,
    };
    let label = rest[3..].trim();
    let word = label.split_whitespace().next().unwrap_or_default();
    if word.eq_ignore_ascii_case("approve") {
        Some((ticked, "approve"))
    } else if word.eq_ignore_ascii_case("reject") {
        Some((ticked, "reject"))
    } else {
        None
    }
}

/// The text of the first fenced block tagged `json`.
pub(crate) fn json_block(lines: &[&str]) -> Option<String> {
    let start = lines.iter().position(|l| {
        let t = l.trim_start();
        t.starts_with("```")
            && t.trim_start_matches('`')
                .trim()
                .eq_ignore_ascii_case("json")
    })?;
    let fence_len = {
        let t = lines[start].trim_start();
        t.len() - t.trim_start_matches('`').len()
    };
    let mut out = String::new();
    for line in &lines[start + 1..] {
        let t = line.trim();
        if t.len() >= fence_len && t.chars().all(|c| c == '`') {
            return Some(out);
        }
        out.push_str(line);
        out.push('\n');
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gestures() {
        let text = "---\nhitl_id: abc\nstatus: Approved\ndecision_reason: ok\n---\n# T\n\n```json\n{\"a\": 1}\n```\n\n## Decision\n\n- [x] Approve\n- [ ] Reject\n";
        let v = parse(text).unwrap();
        assert_eq!(v.hitl_id.as_deref(), Some("abc"));
        assert_eq!(v.status.as_deref(), Some("Approved"));
        assert_eq!(v.decision_reason.as_deref(), Some("ok"));
        assert!(v.ticked_approve && !v.ticked_reject);
        assert_eq!(v.payload_block.as_deref(), Some("{\"a\": 1}\n"));
    }

    #[test]
    fn ticks_outside_decision_do_not_count() {
        let v = parse("# T\n- [x] Approve\n## Notes\n- [x] Reject\n").unwrap();
        assert!(!v.ticked_approve && !v.ticked_reject);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("---\nstatus: pend").unwrap_err(),
            NoteError::Unterminated
        );
        let NoteError::Yaml(e) = parse("---\na: 1\nstatus: x\nstatus: y\n---\n").unwrap_err()
        else {
            panic!()
        };
        assert_eq!(e.line, 4, "line within the note: {e}");
    }

    #[test]
    fn task_lines() {
        assert_eq!(task("- [X] approve"), Some((true, "approve")));
        assert_eq!(
            task("  * [ ] Reject (with reason)"),
            Some((false, "reject"))
        );
        assert_eq!(task("- [x] Approved by Bob"), None);
        assert_eq!(task("text"), None);
    }
}
