//! Rendering a request as a note, merged with the note already on disk so
//! that whatever the human wrote survives.

use std::fmt::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::parse::{json_block, task};
use super::{DAEMON_KEYS, WARNING_MARK, frontmatter_blocks, sections, split};
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
    let mut human_props = String::new();
    let mut human_decision: Vec<&str> = Vec::new();
    let mut human_sections = String::new();
    // While a request is pending, the human's own gesture text (status word,
    // ticks) stays as typed, so a warning never erases what it is about.
    let mut pending_status: Option<String> = None;
    let mut ticks = (false, false);
    let keep_gestures = req.status == Status::Pending && existing.is_some_and(|e| !e.from_drop_in);
    if let Some(ex) = existing {
        let parts = split(ex.text);
        let blocks = parts
            .frontmatter
            .map(frontmatter_blocks)
            .unwrap_or_default();
        let status_blocks: Vec<&String> = blocks
            .iter()
            .filter(|(k, _)| k.as_deref() == Some("status"))
            .map(|(_, b)| b)
            .collect();
        if keep_gestures && status_blocks.len() == 1 {
            pending_status = Some(status_blocks[0].clone());
        }
        for (key, block) in blocks {
            let owned = key
                .as_deref()
                .is_some_and(|k| DAEMON_KEYS.contains(&k) || ex.drop_keys.iter().any(|d| d == k));
            if !owned {
                human_props.push_str(&block);
            }
        }
        let body = if parts.unterminated { "" } else { parts.body };
        for (heading, lines) in sections(body) {
            match heading {
                None if ex.from_drop_in => {
                    let notes = requester_notes(&lines);
                    if !notes.is_empty() {
                        let _ = write!(human_sections, "\n## {REQUESTER_NOTES}\n\n{notes}\n");
                    }
                }
                None => {}
                Some(h) if h.eq_ignore_ascii_case("decision") => {
                    human_decision = human_lines_in_decision(&lines);
                    if keep_gestures {
                        for line in &lines {
                            match task(line) {
                                Some((true, "approve")) => ticks.0 = true,
                                Some((true, "reject")) => ticks.1 = true,
                                _ => {}
                            }
                        }
                    }
                }
                Some(h)
                    if h.eq_ignore_ascii_case("result") || h.eq_ignore_ascii_case("history") => {}
                Some(h) => {
                    let _ = write!(human_sections, "\n## {h}\n{}\n", lines.join("\n"));
                }
            }
        }
    }
    let mut out = String::from("---\n");
    out.push_str(&frontmatter(req, pending_status.as_deref(), tz));
    out.push_str(&human_props);
    out.push_str("---\n");
    out.push_str(&preamble(req));
    out.push_str(&decision(req, ticks, warnings, &human_decision));
    out.push_str(&result(req, tz));
    out.push_str("\n## History\n\n");
    for (at, line) in &req.history {
        let _ = writeln!(out, "- {} {}", local(*at, tz), one_line(line));
    }
    out.push_str(&human_sections);
    out
}

/// Local time as Obsidian's date-time properties show it.
pub fn local(ts: Timestamp, tz: &TimeZone) -> String {
    tz.to_datetime(ts).strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

fn frontmatter(req: &Request, status_block: Option<&str>, tz: &TimeZone) -> String {
    let s = &req.sub;
    let mut fm = String::new();
    let put = |fm: &mut String, k: &str, v: &str| {
        let _ = writeln!(fm, "{k}: {}", scalar(v));
    };
    // Dates unquoted, as Obsidian writes date-time properties.
    let date = |fm: &mut String, k: &str, t: Timestamp| {
        let _ = writeln!(fm, "{k}: {}", local(t, tz));
    };
    put(&mut fm, "type", "approval_request");
    put(&mut fm, "hitl_id", &req.id);
    put(&mut fm, "action", &s.action);
    match status_block {
        Some(block) => fm.push_str(block),
        None => put(&mut fm, "status", req.status.name()),
    }
    put(&mut fm, "risk", s.risk.as_str());
    put(&mut fm, "summary", &s.summary);
    if let Some(r) = &s.rationale {
        put(&mut fm, "rationale", r);
    }
    put(&mut fm, "requested_by", &s.requested_by);
    date(&mut fm, "created", s.created);
    date(&mut fm, "expires", s.expires);
    // Hex, never read back (the payload block is what is checked).
    let _ = writeln!(fm, "payload_sha256: {}", s.payload_sha256);
    if let Some(d) = &req.decision {
        put(&mut fm, "decided_by", &d.by);
        date(&mut fm, "decided_at", d.at);
    }
    if let Some(at) = req.executed_at {
        date(&mut fm, "executed_at", at);
    }
    if let Some(code) = req.result().and_then(|r| r.exit_code) {
        let _ = writeln!(fm, "exit_code: {code}");
    }
    fm
}

/// A YAML scalar: plain when it can only be read back as this same string,
/// else double-quoted.
fn scalar(v: &str) -> String {
    let plain = v.starts_with(|c: char| c.is_alphabetic() || c == '/' || c == '_')
        && v.chars()
            .all(|c| c.is_alphanumeric() || "_-.@/:+ ".contains(c))
        && !v.ends_with([' ', ':'])
        && !v.contains(": ")
        && !matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain { v.to_string() } else { yaml_quote(v) }
}

/// A YAML double-quoted scalar. Unlike JSON's quoting, it escapes every
/// character YAML forbids or folds (C1 controls, DEL, NEL, line and
/// paragraph separators, BOM).
fn yaml_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(c),
            '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..
                if !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                out.push(c)
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
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

fn preamble(req: &Request) -> String {
    let s = &req.sub;
    let title = one_line(&s.summary);
    let mut out = format!("# {title}\n\n");
    let kind = match s.risk {
        Risk::High => "danger",
        Risk::Medium => "warning",
        Risk::Low => "note",
    };
    let _ = writeln!(out, "> [!{kind}] Risk: {}", s.risk.as_str());
    if s.signals.is_empty() {
        out.push_str("> - No risk signal matched.\n");
    }
    for sig in &s.signals {
        let _ = writeln!(out, "> - {} ({})", one_line(&sig.says), sig.level.as_str());
    }
    let rule = s
        .rule
        .as_deref()
        .map_or("the default rule".to_string(), |r| {
            format!("rule `{}`", one_line(r))
        });
    let _ = writeln!(out, "> - Decided by {rule}.");
    if let Some(r) = &s.rationale {
        let _ = write!(out, "\n**Why:** {}\n", one_line(r));
    }
    let _ = write!(
        out,
        "\n**Action:** `{}` · **Requested by:** {}\n",
        s.action,
        one_line(&s.requested_by)
    );
    let _ = write!(out, "\n```json\n{}\n```\n", payload::pretty(&s.payload));
    out
}

fn decision(req: &Request, ticks: (bool, bool), warnings: &[String], human: &[&str]) -> String {
    let (approved, rejected) = match &req.decision {
        Some(d) => (d.approved, !d.approved),
        None => ticks,
    };
    let tick = |b: bool| if b { "x" } else { " " };
    let mut out = format!(
        "\n## Decision\n\n- [{}] Approve\n- [{}] Reject\n",
        tick(approved),
        tick(rejected)
    );
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

fn human_lines_in_decision<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut in_warning = false;
    for line in lines {
        if line.starts_with(WARNING_MARK) {
            in_warning = true;
            continue;
        }
        if in_warning && line.starts_with('>') {
            continue;
        }
        in_warning = false;
        if task(line).is_none() {
            out.push(*line);
        }
    }
    trim_blank(out)
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
    trim_blank(kept).join("\n")
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
        Status::Approved {
            runs_handler: false,
        } => out.push_str(
            "_Approved. No handler is configured for this action: the requester acts on it._\n",
        ),
        Status::Approved { runs_handler: true } => {
            out.push_str("_Approved; the handler starts now._\n")
        }
        Status::Executing { started } => {
            let _ = writeln!(out, "_Running since {}._", local(*started, tz));
        }
        Status::Executed(r) | Status::Failed(r) => {
            let code = r.exit_code.map_or("none".to_string(), |c| c.to_string());
            let _ = writeln!(out, "- Exit code: {code}\n- Duration: {} ms", r.duration_ms);
            if let Some(e) = &r.error {
                let _ = writeln!(out, "- Note: {}", one_line(e));
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
        Status::Unknown { why } => {
            let _ = writeln!(
                out,
                "> [!danger] Outcome unknown\n> {}\n> The handler may or may not have had its effect, so hitl will not run it again by itself. Check, then settle it with `hitl resolve {} --executed|--failed --reason \"...\"`.",
                one_line(why),
                req.id
            );
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
