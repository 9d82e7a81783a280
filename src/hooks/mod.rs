//! `hitl hook HARNESS`: a coding agent's pre-tool-call hook asks hitl.
//!
//! Each harness (Claude Code, Codex CLI, Gemini CLI, Cursor) is one
//! [`Harness`] in [`HARNESSES`]: how its hook JSON is read into a
//! [`ToolCall`], how hitl's [`Answer`] is written back in its own output
//! format, and where its settings file is. Adding a harness is one file
//! and one line in the table.
//!
//! The tool call becomes the action `<harness>.<tool>` with the tool's
//! input as the payload (a shell command in a `command` field, so rules can
//! `matches` on it). Every error denies: a gate that fails open is no gate.

pub mod ask;
mod claude;
mod codex;
mod cursor;
mod gemini;
pub mod install;
mod ordered;
pub mod parse;
mod run;

use serde::Serialize;
use serde_json::{Map, Value};

pub use run::{
    DEFAULT_WAIT, GUARD_MARGIN, OnTimeout, Settings, Setup, answer_for, auto_allows, run,
};

/// One tool call, as a harness's hook announced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    /// The harness's event name (`PreToolUse`, `beforeShellExecution`).
    pub event: String,
    /// The tool's name in the harness; the action is `<harness>.<tool>`.
    pub tool: String,
    /// The tool's input, with a shell command as `command`, plus the hook's
    /// context under `_hook`.
    pub payload: Map<String, Value>,
    /// What the agent said the call is for, if the harness passes it.
    pub rationale: Option<String>,
}

/// The key under which the hook's own context (harness, session, call id,
/// working folder) travels in the payload.
pub const CONTEXT_KEY: &str = "_hook";

/// hitl's answer to a tool call, before a harness words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Run it (a human approved, or a rule that says `hook: allow`).
    Allow(String),
    /// Don't run it, and why (the agent sees this).
    Deny(String),
    /// Let the harness ask its user.
    Ask(String),
    /// Stop without running it; the request stays pending in hitl, and the
    /// session is resumed once it is decided (Claude Code `-p`).
    Defer(String),
    /// Say nothing: the harness's own permission flow goes on.
    NoOpinion,
}

/// What the hook process prints and exits with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: u8,
}

impl Rendered {
    fn json(v: Value) -> Rendered {
        Rendered {
            stdout: v.to_string(),
            stderr: String::new(),
            exit_code: 0,
        }
    }

    fn silent() -> Rendered {
        Rendered {
            stdout: String::new(),
            stderr: String::new(),
            exit_code: 0,
        }
    }

    /// With the reason on stderr too, where a person running the harness
    /// verbosely sees it.
    fn with_stderr(mut self, why: &str) -> Rendered {
        self.stderr = format!("hitl: {why}");
        self
    }
}

/// Where and how a harness keeps its hooks.
#[derive(Debug, Clone, Copy)]
pub struct SettingsFile {
    /// Relative to the project folder with `--project`, else to the home
    /// folder.
    pub path: &'static str,
    /// The events to hook and the matcher for each.
    pub entries: &'static [(&'static str, Option<&'static str>)],
    /// How the harness counts its hook timeout.
    pub timeout_unit: TimeoutUnit,
    /// Whether the file has a `"version": 1` at its top.
    pub versioned: bool,
    /// Whether an entry is the hook itself (Cursor) rather than a matcher
    /// group holding a `hooks` list (Claude Code, Codex, Gemini).
    pub flat: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutUnit {
    Seconds,
    Milliseconds,
}

/// One harness: its hook format and its settings file.
pub struct Harness {
    /// As given to `hitl hook NAME` and first in the action.
    pub name: &'static str,
    /// The hook events it answers.
    pub events: &'static [&'static str],
    /// Whether it can ask its user itself (`on_timeout: ask`).
    pub can_ask: bool,
    /// Whether it can stop and resume later (`on_timeout: defer`).
    pub can_defer: bool,
    /// The hook's stdin JSON, read into a tool call.
    pub parse: fn(&Value) -> Result<ToolCall, HookError>,
    /// An answer in the harness's format, for the event (`None`: the input
    /// could not be read, so the event is not known).
    pub render: fn(Option<&str>, &Answer) -> Rendered,
    pub settings: SettingsFile,
}

/// The harnesses hitl answers, by name.
pub const HARNESSES: &[&Harness] = &[
    &claude::HARNESS,
    &codex::HARNESS,
    &gemini::HARNESS,
    &cursor::HARNESS,
];

pub fn harness(name: &str) -> Option<&'static Harness> {
    HARNESSES.iter().copied().find(|h| h.name == name)
}

/// Why a hook could not ask hitl; each one denies.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HookError {
    #[error("the hook input is not valid JSON: {0}")]
    NotJson(String),
    #[error("the hook input is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the hook input has no `{0}`")]
    Missing(&'static str),
    #[error("{harness} hook event `{event}` is not one hitl answers (it answers {known})")]
    UnknownEvent {
        harness: &'static str,
        event: String,
        known: String,
    },
    #[error(
        "the tool `{0}` can't be named as an hitl action (letters, digits, `_-.`, at most 64 in all)"
    )]
    BadTool(String),
    #[error("{harness} has no `{what}` answer; use on_timeout: deny")]
    Unsupported {
        harness: &'static str,
        what: &'static str,
    },
}

impl Harness {
    /// The action a tool call becomes.
    pub fn action(&self, call: &ToolCall) -> Result<String, HookError> {
        let action = format!("{}.{}", self.name, call.tool);
        let ok = action.len() <= 64
            && !call.tool.is_empty()
            && action
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if ok {
            Ok(action)
        } else {
            Err(HookError::BadTool(call.tool.clone()))
        }
    }

    fn check_event(&self, event: &str) -> Result<(), HookError> {
        if self.events.contains(&event) {
            Ok(())
        } else {
            Err(HookError::UnknownEvent {
                harness: self.name,
                event: event.to_string(),
                known: self.events.join(", "),
            })
        }
    }
}

#[cfg(test)]
mod golden;
