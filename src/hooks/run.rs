//! One hook call: the harness's input in, its answer out. Whatever goes
//! wrong on the way is a deny that says why.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::ask::{self, Asked, Outcome, Question};
use super::{Answer, Harness, HookError, Rendered, ToolCall, parse};
use crate::config::Config;
use crate::ipc::Submit;
use crate::rules::HookAnswer;

/// What to answer when no one decided within the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnTimeout {
    /// Deny; the request is withdrawn.
    Deny,
    /// Let the harness ask its user; the request is withdrawn.
    Ask,
    /// Claude Code `-p`: stop now, leave the request pending, and answer
    /// from its decision when the session is resumed.
    Defer,
}

/// How `hitl hook` waits, from its command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub wait: Duration,
    pub on_timeout: OnTimeout,
}

/// Where the daemon is and the config the answer is read with.
pub struct Setup {
    pub state_dir: PathBuf,
    pub config: Arc<Config>,
}

/// How long `hitl hook` waits for a decision unless told otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(50);

/// How long a request made by a hook that may be killed at its own
/// timeout stays open past the wait, at most.
const GRACE_AFTER_WAIT: Duration = Duration::from_secs(60);

/// Answers one hook call. `setup` is an error when the config or the state
/// folder could not be found: that too denies.
pub fn run(h: &Harness, input: &[u8], s: &Settings, setup: Result<Setup, String>) -> Rendered {
    let call = parse::read(input).and_then(|v| (h.parse)(&v));
    let event = call.as_ref().ok().map(|c| c.event.clone());
    let answer = decide(h, call, s, setup).unwrap_or_else(|why| {
        tracing::warn!(harness = h.name, %why, "hook denies: hitl could not ask");
        Answer::Deny(format!(
            "hitl could not ask for approval, so the call is denied: {why}"
        ))
    });
    tracing::debug!(harness = h.name, event = ?event, answer = ?answer, "hook answered");
    (h.render)(event.as_deref(), &answer)
}

fn decide(
    h: &Harness,
    call: Result<ToolCall, HookError>,
    s: &Settings,
    setup: Result<Setup, String>,
) -> Result<Answer, String> {
    let call = call.map_err(|e| e.to_string())?;
    supported(h, s.on_timeout).map_err(|e| e.to_string())?;
    let setup = setup?;
    let action = h.action(&call).map_err(|e| e.to_string())?;
    let summary = summary(&call);
    let payload = Value::Object(call.payload);
    let allows = auto_allows(&setup.config, &action, &payload);
    let defer = s.on_timeout == OnTimeout::Defer;
    let submit = Submit {
        summary,
        rationale: call.rationale.as_deref().map(|r| clip(r, 2000)),
        label: Some(h.name.to_string()),
        timeout_s: (!defer).then(|| (s.wait + GRACE_AFTER_WAIT).as_secs()),
        expires: None,
        notify_requester: None,
        action,
        payload,
    };
    let q = Question {
        submit,
        wait: s.wait,
        resume: defer,
        withdraw: !defer,
        config: &setup.config,
    };
    Ok(
        match ask::ask(&setup.state_dir, q).map_err(|e| e.to_string())? {
            Asked::Settled(o) => answer_for(&o, allows),
            Asked::Undecided { id, .. } => undecided(s, &id),
        },
    )
}

/// `ask` and `defer` only where the harness has them.
fn supported(h: &Harness, on_timeout: OnTimeout) -> Result<(), HookError> {
    let what = match on_timeout {
        OnTimeout::Ask if !h.can_ask => "ask",
        OnTimeout::Defer if !h.can_defer => "defer",
        _ => return Ok(()),
    };
    Err(HookError::Unsupported {
        harness: h.name,
        what,
    })
}

/// Whether the rules let this call run with `hook: allow`. Read from the
/// config here, not from the journal (which the agent can write): at worst
/// a changed config makes an `auto` call "no opinion", never a `require`
/// one "allow" (the daemon's status still has to say approved).
fn auto_allows(config: &Config, action: &str, payload: &Value) -> bool {
    let a = crate::rules::assess(&config.rules, config.default, &config.risk, action, payload);
    a.verdict == crate::rules::Verdict::Auto
        && config
            .rules
            .iter()
            .any(|r| Some(&r.name) == a.rule.as_ref() && r.hook == HookAnswer::Allow)
}

/// The answer for a settled request; `auto_allows`: the deciding `auto`
/// rule says `hook: allow`.
pub fn answer_for(o: &Outcome, auto_allows: bool) -> Answer {
    let by = o.decided_by.as_deref().unwrap_or("hitl");
    let rule = match by.strip_prefix("rule:") {
        Some(name) => Some(name),
        None if o.at_submit => Some("(at submission)"),
        None => None,
    };
    let because = o
        .reason
        .as_deref()
        .filter(|r| rule.is_none() && !r.trim().is_empty())
        .map_or_else(String::new, |r| format!(": {r}"));
    match (o.status.as_str(), rule) {
        ("approved" | "executing" | "executed", Some(name)) => {
            if auto_allows {
                Answer::Allow(format!("allowed by hitl rule {name}"))
            } else {
                Answer::NoOpinion
            }
        }
        ("approved" | "executing" | "executed", None) => Answer::Allow(format!(
            "approved by {by} in hitl (request {}){because}",
            o.id
        )),
        ("rejected", Some(name)) => {
            Answer::Deny(format!("denied by hitl rule {name} (request {})", o.id))
        }
        ("rejected", None) => Answer::Deny(format!(
            "rejected by {by} in hitl (request {}){}",
            o.id,
            if because.is_empty() {
                "; no reason given".to_string()
            } else {
                because
            }
        )),
        ("expired", _) => Answer::Deny(format!(
            "the hitl request {} expired without a decision",
            o.id
        )),
        ("cancelled", _) => Answer::Deny(format!("the hitl request {} was cancelled", o.id)),
        ("failed", _) => Answer::Deny(format!(
            "approved, but its hitl handler failed (request {})",
            o.id
        )),
        (status, _) => Answer::Deny(format!("the hitl request {} ended {status}", o.id)),
    }
}

fn undecided(s: &Settings, id: &str) -> Answer {
    let wait = crate::dashboard::span(s.wait.as_secs() as i64);
    match s.on_timeout {
        OnTimeout::Deny => Answer::Deny(format!(
            "no decision in hitl within {wait}; request {id} was withdrawn. Try again later, or ask the person to watch their vault"
        )),
        OnTimeout::Ask => Answer::Ask(format!(
            "no decision in hitl within {wait} (request {id} withdrawn): decide here"
        )),
        OnTimeout::Defer => Answer::Defer(format!(
            "waiting for a person's decision in hitl (request {id}); resume this session once it is decided"
        )),
    }
}

/// A shell command's first line, for the note's title; other tools get
/// the daemon's summary of their fields.
fn summary(call: &ToolCall) -> Option<String> {
    let command = call.payload.get("command")?.as_str()?;
    let one_line: String = command
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Some(clip(&format!("{}: {}", call.tool, one_line.trim()), 200))
}

/// At most `max` bytes, cut at a character boundary.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
