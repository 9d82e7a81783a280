//! Rendering a request as a note, merged with the note already on disk so
//! that whatever the human wrote survives.

use std::fmt::Write;

use jiff::tz::TimeZone;

use super::blocks::{self, Unclosed};
use super::parse::{Found, Which, decision_tasks, json_block, task};
use super::properties::{frontmatter, local};
use super::{
    DAEMON_KEYS, Part, Section, WARNING_MARK, frontmatter_blocks, sections, split, split_human,
};
use crate::payload;
use crate::request::{Request, Status};
use crate::rules::Risk;

/// The note on disk that a render merges with.
#[derive(Debug, Default, Clone, Copy)]
pub struct Existing<'a> {
    pub text: &'a str,
    /// Extra frontmatter keys to drop (a drop-in's keys, now in the payload).
    pub drop_keys: &'a [String],
    /// The note was a drop-in: its preamble text is the requester's, kept
    /// under its own heading instead of being replaced.
    pub from_drop_in: bool,
}

const REQUESTER_NOTES: &str = "Requester's notes";

/// Renders `req`, with `warnings` shown in the Decision section.
pub fn render(
    req: &Request,
    warnings: &[String],
    existing: Option<Existing>,
    tz: &TimeZone,
) -> String {
    let kept = existing.map(|ex| Kept::from(req, ex)).unwrap_or_default();
    let mut out = String::from("---\n");
    out.push_str(&frontmatter(req, kept.status.as_deref(), tz));
    out.push_str(&kept.props);
    out.push_str("---\n");
    out.push_str(&preamble(req));
    out.push_str(&decision(req, kept.marks, warnings, &kept.decision));
    out.push_str(&result(req, tz));
    out.push_str("\n## History\n\n");
    for (at, line) in &req.history {
        let _ = writeln!(out, "- {} {}", local(*at, tz), inline(line));
    }
    out.push_str(&kept.sections);
    out
}

/// What a render keeps of the note on disk.
struct Kept {
    /// The human's frontmatter entries, as typed.
    props: String,
    /// The human's lines in the Decision section.
    decision: Vec<String>,
    /// The human's own sections (and a drop-in's text), as typed.
    sections: String,
    /// While a request is pending, the human's own gesture text (status
    /// word, box marks) stays as typed, so a warning never erases what it
    /// is about.
    status: Option<String>,
    marks: (char, char),
}

impl Default for Kept {
    fn default() -> Kept {
        Kept {
            props: String::new(),
            decision: Vec::new(),
            sections: String::new(),
            status: None,
            marks: (' ', ' '),
        }
    }
}

impl Kept {
    fn from(req: &Request, ex: Existing) -> Kept {
        let keep_gestures = req.status == Status::Pending && !ex.from_drop_in;
        let mut kept = Kept::default();
        let parts = split(ex.text);
        let blocks = parts
            .frontmatter
            .map(frontmatter_blocks)
            .unwrap_or_default();
        let status_blocks: Vec<&str> = blocks
            .iter()
            .filter(|(k, _)| k.as_deref() == Some("status"))
            .map(|(_, b)| b.as_str())
            .collect();
        if keep_gestures && let [one] = status_blocks[..] {
            kept.status = Some(one.to_string());
        }
        for (key, block) in &blocks {
            let owned = key
                .as_deref()
                .is_some_and(|k| DAEMON_KEYS.contains(&k) || ex.drop_keys.iter().any(|d| d == k));
            if !owned {
                kept.props.push_str(block);
            }
        }
        let body = if parts.unterminated { "" } else { parts.body };
        for section in sections(body) {
            match section.part {
                Part::Head if ex.from_drop_in => {
                    let notes = requester_notes(&section.lines);
                    if !notes.is_empty() {
                        let _ = write!(kept.sections, "\n## {REQUESTER_NOTES}\n\n{notes}\n");
                    }
                }
                Part::Head => {
                    // A section of the human's own above Decision is kept,
                    // below History: the head itself is the daemon's.
                    let mut inner = Vec::new();
                    split_human(&mut inner, Part::Head, &section.lines);
                    for sub in inner.into_iter().skip(1) {
                        kept.push_section(sub);
                    }
                }
                Part::Result | Part::History => {}
                Part::Decision => {
                    kept.decision = human_lines_in_decision(&section.lines);
                    if keep_gestures {
                        kept.marks = marks(&section.lines);
                    }
                }
                Part::Human(_) => kept.push_section(section),
            }
        }
        kept
    }

    fn push_section(&mut self, section: Section) {
        if let Part::Human(h) = section.part {
            let _ = write!(
                self.sections,
                "\n## {h}\n{}\n",
                closed(section.lines).join("\n")
            );
        }
    }
}

/// Text from a requester or a human, made safe to put on one line of the
/// body: every line break or control character (which Obsidian might render
/// as a new line, and so as a new section or a ticked box) becomes a space.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// [`one_line`], and shown as the very characters it holds: every
/// character Markdown or Obsidian would read as syntax becomes an HTML
/// entity (decoded for display, never parsed). A summary or a payload value
/// quoted in a risk signal can then open no `%%` or `<!--` comment that hides
/// the payload, embed no `![[note]]`, and strike or highlight nothing.
/// Backticks stay: a code span shows its text literally, and hitl's own
/// messages use them.
pub(crate) fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        match c {
            '&' | '<' | '>' | '%' | '[' | ']' | '$' | '\\' | '*' | '~' | '=' | '|' | '^' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The parts of the note's head, named as a person would point at them;
/// joined by blank lines they are the head.
pub fn head_parts(req: &Request) -> Vec<(&'static str, String)> {
    let s = &req.sub;
    let mut parts = vec![("title", format!("# {}\n", inline(&s.summary)))];
    let kind = match s.risk {
        Risk::High => "danger",
        Risk::Medium => "warning",
        Risk::Low => "note",
    };
    let mut risk = format!("> [!{kind}] Risk: {}\n", s.risk.as_str());
    if s.signals.is_empty() {
        risk.push_str("> - No risk signal matched.\n");
    }
    for sig in &s.signals {
        let _ = writeln!(risk, "> - {} ({})", inline(&sig.says), sig.level.as_str());
    }
    let rule = s
        .rule
        .as_deref()
        .map_or("the default rule".to_string(), |r| {
            format!("rule `{}`", one_line(r))
        });
    let _ = writeln!(risk, "> - Decided by {rule}.");
    parts.push(("risk callout", risk));
    if let Some(r) = &s.rationale {
        parts.push(("rationale line", format!("**Why:** {}\n", inline(r))));
    }
    parts.push((
        "summary line",
        format!(
            "**Action:** `{}` · **Requested by:** {}\n",
            s.action,
            inline(&s.requested_by)
        ),
    ));
    parts.push((
        "payload block",
        format!("```json\n{}\n```\n", payload::pretty(&s.payload.value())),
    ));
    parts
}

fn preamble(req: &Request) -> String {
    let parts: Vec<String> = head_parts(req).into_iter().map(|(_, p)| p).collect();
    parts.join("\n")
}

fn decision(req: &Request, marks: (char, char), warnings: &[String], human: &[String]) -> String {
    let (approve, reject) = match req.decision() {
        Some(d) if d.approved => ('x', ' '),
        Some(_) => (' ', 'x'),
        None => marks,
    };
    let mut out = format!("\n## Decision\n\n- [{approve}] Approve\n- [{reject}] Reject\n");
    if !warnings.is_empty() {
        let _ = writeln!(out, "\n{WARNING_MARK}");
        for w in warnings {
            let _ = writeln!(out, "> - {}", one_line(w));
        }
    }
    if !human.is_empty() {
        let _ = write!(out, "\n{}\n", human.join("\n"));
    }
    out
}

/// The marks a person left in the daemon's two boxes (the first of each).
fn marks(lines: &[&str]) -> (char, char) {
    let mut marks = (None, None);
    for found in decision_tasks(lines) {
        if let Found::Gesture(t) = found {
            let slot = match t.which {
                Which::Approve => &mut marks.0,
                Which::Reject => &mut marks.1,
            };
            slot.get_or_insert(t.mark);
        }
    }
    (marks.0.unwrap_or(' '), marks.1.unwrap_or(' '))
}

/// The Decision section without the daemon's own lines: its warning
/// callout and its two task lines (as typed or as changed; the daemon
/// writes them anew). Tasks in a fence or comment are the human's text.
fn human_lines_in_decision(lines: &[&str]) -> Vec<String> {
    let hidden = blocks::hidden(lines, Unclosed::RunsToEnd);
    let mut out = Vec::new();
    let mut in_warning = false;
    for (line, hidden) in lines.iter().zip(hidden) {
        if !hidden && line.starts_with(WARNING_MARK) {
            in_warning = true;
            continue;
        }
        if in_warning && line.starts_with('>') {
            continue;
        }
        in_warning = false;
        if hidden || task(line).is_none() {
            out.push(*line);
        }
    }
    closed(trim_blank(out))
}

/// Lines of a person's text, with whatever block they leave open closed,
/// so it can't hide the daemon's sections that follow.
fn closed(lines: Vec<&str>) -> Vec<String> {
    let closers = blocks::closers(&lines);
    lines.into_iter().map(String::from).chain(closers).collect()
}

/// A drop-in's preamble without its payload block and title.
fn requester_notes(lines: &[&str]) -> String {
    let block = json_block(lines);
    let mut skipping = false;
    let mut kept = Vec::new();
    for line in lines {
        let t = line.trim_start();
        if block.is_some() && t.starts_with("```") {
            let opening = t
                .trim_start_matches('`')
                .trim()
                .eq_ignore_ascii_case("json");
            if opening || skipping {
                skipping = !skipping && opening;
                continue;
            }
        }
        if !skipping && !line.starts_with("# ") {
            kept.push(*line);
        }
    }
    closed(trim_blank(kept)).join("\n")
}

fn trim_blank(mut lines: Vec<&str>) -> Vec<&str> {
    while lines.first().is_some_and(|l| l.trim().is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

fn result(req: &Request, tz: &TimeZone) -> String {
    let mut out = String::from("\n## Result\n\n");
    match &req.status {
        Status::Pending => out.push_str("_Not run yet: waiting for a decision._\n"),
        Status::Approved { .. } => out.push_str(
            "_Approved. No handler is configured for this action: the requester acts on it._\n",
        ),
        Status::ApprovedToRun { .. } => out.push_str("_Approved; the handler starts now._\n"),
        Status::Executing { started, .. } => {
            let _ = writeln!(out, "_Running since {}._", local(*started, tz));
        }
        Status::Executed(ended) | Status::Failed(ended) => {
            let r = &ended.run;
            let code = r.exit_code.map_or("none".to_string(), |c| c.to_string());
            let _ = writeln!(out, "- Exit code: {code}\n- Duration: {} ms", r.duration_ms);
            if let Some(e) = &r.error {
                let _ = writeln!(out, "- Note: {}", inline(e));
            }
            if !r.output.is_empty() {
                let fence = "`".repeat(longest_backtick_run(&r.output).max(2) + 1);
                let _ = write!(out, "\n{fence}text\n{}\n{fence}\n", r.output.trim_end());
            }
            if r.truncated {
                let _ = writeln!(
                    out,
                    "\n_Output truncated here; the full output is in the state folder, output/{}.log._",
                    req.id
                );
            }
        }
        Status::Unknown { why, .. } => {
            let _ = writeln!(
                out,
                "> [!danger] Outcome unknown\n> {}\n> The handler may or may not have had its effect, so hitl will not run it again by itself. Check, then settle it with `hitl resolve {} --executed|--failed --reason \"...\"`.",
                inline(why),
                req.id
            );
        }
        Status::Cancelled { by, reason, .. } => {
            let why = reason
                .as_deref()
                .map(|r| format!(": {}", inline(r)))
                .unwrap_or_default();
            let _ = writeln!(out, "_Not run: cancelled by {}{why}._", inline(by));
        }
        other => {
            let _ = writeln!(out, "_Not run: the request is {}._", other.name());
        }
    }
    out
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}
