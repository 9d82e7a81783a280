//! One hook call: the harness's input in, its answer out. Whatever goes
//! wrong on the way is a deny that says why.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::ask::{self, Asked, Question};
use super::{Answer, CONTEXT_KEY, Harness, HookError, Rendered, ToolCall, parse};
use crate::config::Config;
use crate::ipc::Submit;
use crate::outcome::RequestOutcome;
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

/// How long past its wait `hitl hook` may take before it denies whatever
/// it is waiting on: below the margin `hook install` gives the harness's
/// own hook timeout. Each daemon call is bounded well inside it.
pub const GUARD_MARGIN: Duration = Duration::from_secs(15);

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
    // A deferred call is asked again when its session resumes: the key
    // lets the daemon answer that call with the request made for it.
    let key = defer.then(|| key(h, &action, &payload)).flatten();
    let submit = Submit {
        summary,
        rationale: call.rationale.as_deref().map(|r| clip(r, 2000)),
        label: Some(h.name.to_string()),
        timeout_s: (!defer).then(|| (s.wait + GRACE_AFTER_WAIT).as_secs()),
        expires: None,
        notify_requester: None,
        key,
        action,
        payload,
    };
    let q = Question {
        submit,
        wait: s.wait,
        withdraw: !defer,
    };
    Ok(
        match ask::ask(&setup.state_dir, q).map_err(|e| e.to_string())? {
            Asked::Settled(o) => {
                let by_that_rule = allows.is_some_and(|rule| {
                    o.decided_by
                        .as_deref()
                        .and_then(|b| b.strip_prefix("rule:"))
                        == Some(&rule)
                });
                answer_for(&o, by_that_rule)
            }
            Asked::Undecided { id, .. } => undecided(s, &id),
        },
    )
}

/// The idempotency key of a tool call: the harness, the session and the
/// call's id with a hash of the action and the payload (which holds them
/// too). `None` without a call id: such a call can't be found again.
fn key(h: &Harness, action: &str, payload: &Value) -> Option<String> {
    let context = payload.get(CONTEXT_KEY)?;
    let call_id = context.get("call_id")?.as_str()?;
    let session = context.get("session").and_then(Value::as_str);
    let what = serde_json::json!([
        h.name,
        session,
        call_id,
        action,
        crate::payload::sha256(payload)
    ]);
    let digest = crate::payload::sha256(&what);
    Some(format!("hook:{}:{digest}", h.name))
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

/// The `auto` rule that lets this call run with `hook: allow`, if one
/// decides it. Read from the config the hook loaded; the answer allows only
/// if the daemon's decision names the same rule, so a config changed since
/// the daemon loaded it makes an `auto` call "no opinion", never a
/// `require` one "allow" (the daemon's status still has to say approved).
pub fn auto_allows(config: &Config, action: &str, payload: &Value) -> Option<String> {
    let a = crate::rules::assess(&config.rules, config.default, &config.risk, action, payload);
    let name = a
        .rule
        .filter(|_| a.verdict == crate::rules::Verdict::Auto)?;
    config
        .rules
        .iter()
        .any(|r| r.name == name && r.hook == HookAnswer::Allow)
        .then_some(name)
}

/// The answer for a settled request; `auto_allows`: the deciding `auto`
/// rule says `hook: allow`.
pub fn answer_for(o: &RequestOutcome, auto_allows: bool) -> Answer {
    let by = o.decided_by.as_deref().unwrap_or("hitl");
    let rule = by.strip_prefix("rule:");
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
