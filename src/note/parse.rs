//! Reading a note: its properties and the decision gestures in it.

use super::blocks::{self, Unclosed};
use super::{Part, sections, split};
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
    /// Task lines in the Decision section that look like a decision but are
    /// none (a changed label, a box marked `?`, a quoted task), each with
    /// why; a note that has any gets no decision.
    pub task_problems: Vec<String>,
    /// The first fenced `json` block above the Decision section, as text.
    pub payload_block: Option<String>,
    /// The lines above the daemon's first section: the part it owns.
    pub head: Vec<String>,
    /// Whether the note has a `## Decision` section at all.
    pub has_decision: bool,
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
    for section in sections(parts.body) {
        match section.part {
            Part::Head => {
                view.payload_block = json_block(&section.lines);
                view.head = section.lines.iter().map(|l| l.to_string()).collect();
            }
            Part::Decision => {
                view.has_decision = true;
                for found in decision_tasks(&section.lines) {
                    match found {
                        Found::Gesture(Task {
                            which,
                            mark: 'x' | 'X',
                            ..
                        }) => match which {
                            Which::Approve => view.ticked_approve = true,
                            Which::Reject => view.ticked_reject = true,
                        },
                        Found::Gesture(_) => {}
                        Found::Problem(p) => view.task_problems.push(p),
                    }
                }
            }
            // A box a human ticks in a look-alike section must not be
            // silently ignored, nor the look-alike taken for the real one.
            Part::Human(title) if title.eq_ignore_ascii_case("decision") => {
                view.task_problems.push(
                    "this note has a second `## Decision` section: only hitl's own counts, so no decision is taken until the other one is removed".into(),
                );
            }
            _ => {}
        }
    }
    view.props = props;
    Ok(view)
}

/// Which of the daemon's two task lines a task stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Approve,
    Reject,
}

impl Which {
    pub fn label(self) -> &'static str {
        match self {
            Which::Approve => "Approve",
            Which::Reject => "Reject",
        }
    }
}

/// A task line whose label starts with `Approve` or `Reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    pub which: Which,
    /// The character in the box: ` `, `x`, or anything else a person typed.
    pub mark: char,
    /// Exactly the daemon's line (`- [ ] Approve`), whatever the mark.
    pub exact: bool,
}

/// `- [x] Approve` → a task; `- [x] Approved by Bob` and plain text → `None`.
pub(crate) fn task(line: &str) -> Option<Task> {
    let line = line.trim_end();
    let t = line.trim_start();
    t.chars().next().filter(|c| "-*+".contains(*c))?;
    let rest = &t[1..];
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start().strip_prefix('[')?;
    let mark = rest.chars().next()?;
    let label = rest[mark.len_utf8()..].strip_prefix(']')?;
    if !label.starts_with([' ', '\t']) {
        return None;
    }
    let label = label.trim();
    let word = label
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_end_matches(|c: char| c.is_ascii_punctuation());
    let which = if word.eq_ignore_ascii_case("approve") {
        Which::Approve
    } else if word.eq_ignore_ascii_case("reject") {
        Which::Reject
    } else {
        return None;
    };
    // One space after the bullet, as hitl writes it: five make the box an
    // indented code block, which Obsidian shows as text.
    let exact =
        t.starts_with("- [") && line.len() == t.len() && label.eq_ignore_ascii_case(which.label());
    Some(Task { which, mark, exact })
}

/// What a line of the Decision section holds, as far as decisions go.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Found {
    /// One of the daemon's own two lines, as a person left it.
    Gesture(Task),
    /// Something that looks like a decision but is none, and why.
    Problem(String),
}

/// The decision task lines of a Decision section. Lines in a code fence or
/// a comment are not read at all; look-alikes are reported.
pub(crate) fn decision_tasks(lines: &[&str]) -> Vec<Found> {
    let hidden = blocks::hidden(lines, Unclosed::RunsToEnd);
    let mut out = Vec::new();
    for (line, hidden) in lines.iter().zip(hidden) {
        if hidden {
            continue;
        }
        let quoted = line.trim_start().strip_prefix('>');
        if let Some(inner) = quoted {
            let inner = inner.trim_start_matches(['>', ' ', '\t']);
            if let Some(t) = task(inner) {
                out.push(Found::Problem(format!(
                    "`{}` is inside a quote, so it is not a decision: use hitl's own `- [ ] {}` line",
                    shorten(line),
                    t.which.label()
                )));
            }
            continue;
        }
        let Some(t) = task(line) else { continue };
        let own = format!("- [x] {}", t.which.label());
        if !t.exact {
            out.push(Found::Problem(format!(
                "the {} task was changed (`{}`): only hitl's own line `{own}`, label unchanged, is a decision; hitl put its line back",
                t.which.label(),
                shorten(line)
            )));
        } else if matches!(t.mark, ' ' | 'x' | 'X') {
            out.push(Found::Gesture(t));
        } else {
            out.push(Found::Problem(format!(
                "the {} box is marked with `{}`, which is no decision: mark it with `x` (`{own}`)",
                t.which.label(),
                t.mark
            )));
            out.push(Found::Gesture(t));
        }
    }
    out
}

fn shorten(line: &str) -> String {
    let line = line.trim();
    match line.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
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
        assert!(v.task_problems.is_empty());
        assert_eq!(v.payload_block.as_deref(), Some("{\"a\": 1}\n"));
        assert_eq!(v.head, ["# T", "", "```json", "{\"a\": 1}", "```", ""]);
    }

    #[test]
    fn a_second_decision_section_is_no_decision() {
        let v = parse(
            "# T\n\n## Decision\n\n- [ ] Approve\n- [ ] Reject\n\n## Decision\n\n- [x] Reject\n",
        )
        .unwrap();
        assert!(!v.ticked_reject);
        assert!(
            v.task_problems[0].contains("second `## Decision`"),
            "{:?}",
            v.task_problems
        );
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
        let t = task("- [X] approve").unwrap();
        assert_eq!((t.which, t.mark, t.exact), (Which::Approve, 'X', true));
        let t = task("  * [ ] Reject (with reason)").unwrap();
        assert_eq!((t.which, t.exact), (Which::Reject, false));
        assert!(
            !task("- [x] Approve the cancellation (i.e. REJECT it)")
                .unwrap()
                .exact
        );
        assert!(!task("  - [x] Approve").unwrap().exact);
        assert!(task("- [?] Approve").unwrap().exact);
        assert_eq!(task("- [x] Approved by Bob"), None);
        assert_eq!(task("- [x]Approve"), None);
        assert_eq!(task("text"), None);
    }

    fn decide(decision: &str) -> NoteView {
        parse(&format!("# T\n\n## Decision\n\n{decision}\n## Result\n")).unwrap()
    }

    #[test]
    fn only_the_daemon_task_lines_whole_are_gestures() {
        let cases: &[(&str, bool, usize)] = &[
            ("- [x] Approve", true, 0),
            ("- [x] Approve  ", true, 0),
            ("- [x] Approve the cancellation (i.e. REJECT it)", false, 1),
            ("  - [x] Approve", false, 1),
            ("* [x] Approve", false, 1),
            ("-     [x] Approve", false, 1),
            ("-\t[x] Approve", false, 1),
            ("- [?] Approve", false, 1),
            ("- [/] Approve", false, 1),
            ("- [-] Approve", false, 1),
            ("> - [x] Approve", false, 1),
            ("```\n- [x] Approve\n```", false, 0),
            ("~~~\n- [x] Approve\n~~~", false, 0),
            ("<!--\n- [x] Approve\n-->", false, 0),
            ("%%\n- [x] Approve\n%%", false, 0),
            ("- [ ] Reject\n```\n- [x] Approve", false, 0),
            ("<!--\n- [x] Approve", false, 0),
        ];
        for (text, approve, problems) in cases {
            let v = decide(text);
            assert_eq!(v.ticked_approve, *approve, "{text}");
            assert_eq!(
                v.task_problems.len(),
                *problems,
                "{text}: {:?}",
                v.task_problems
            );
        }
    }

    #[test]
    fn a_changed_label_is_named_in_the_warning() {
        let v = decide("- [x] Approve the cancellation (i.e. REJECT it)");
        assert!(
            v.task_problems[0].contains("label unchanged")
                && v.task_problems[0].contains("REJECT it"),
            "{:?}",
            v.task_problems
        );
        assert!(decide("- [?] Approve").task_problems[0].contains("marked with `?`"));
    }

    #[test]
    fn the_head_is_everything_above_the_decision() {
        let v = parse("# T\n<!--\n```json\n{}\n```\n-->\n## Decision\n").unwrap();
        assert_eq!(v.head.len(), 6);
        assert!(v.has_decision);
        assert!(!parse("# T\n").unwrap().has_decision);
    }
}
