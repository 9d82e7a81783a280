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
mod tests {
    use super::*;
    use crate::hooks::HARNESSES;

    fn blocks(r: &Rendered) -> bool {
        (r.exit_code == 2 || r.stdout.contains("deny")) && !r.stdout.contains("allow")
    }

    fn settings(on_timeout: OnTimeout) -> Settings {
        Settings {
            wait: Duration::from_secs(1),
            on_timeout,
        }
    }

    /// A sample input each harness reads.
    fn sample(h: &Harness) -> String {
        match h.name {
            "cursor" => {
                r#"{"hook_event_name":"beforeShellExecution","command":"ls","cwd":"/"}"#.into()
            }
            _ => format!(
                r#"{{"hook_event_name":"{}","tool_name":"Bash","tool_input":{{"command":"ls"}}}}"#,
                h.events[0]
            ),
        }
    }

    fn setup(state_dir: &std::path::Path) -> Result<Setup, String> {
        Ok(Setup {
            state_dir: state_dir.to_path_buf(),
            config: Arc::new(Config::builtin()),
        })
    }

    #[test]
    fn every_error_path_denies_in_every_harness() {
        let no_daemon = tempfile::tempdir().unwrap();
        for h in HARNESSES {
            let good = sample(h);
            let cases: Vec<(&str, Vec<u8>, Result<Setup, String>)> = vec![
                ("not json", b"{oops".to_vec(), setup(no_daemon.path())),
                ("not an object", b"[1]".to_vec(), setup(no_daemon.path())),
                ("empty", Vec::new(), setup(no_daemon.path())),
                (
                    "unknown event",
                    br#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{}}"#
                        .to_vec(),
                    setup(no_daemon.path()),
                ),
                (
                    "config error",
                    good.clone().into_bytes(),
                    Err("config.yaml:1:1: bad".into()),
                ),
                (
                    "daemon down",
                    good.clone().into_bytes(),
                    setup(no_daemon.path()),
                ),
                (
                    "too large",
                    vec![b' '; parse::MAX_INPUT + 1],
                    setup(no_daemon.path()),
                ),
            ];
            for (what, input, setup) in cases {
                let r = run(h, &input, &settings(OnTimeout::Deny), setup);
                assert!(blocks(&r), "{} {what}: {r:?}", h.name);
                assert!(
                    r.stderr.contains("hitl"),
                    "{} {what}: no reason: {r:?}",
                    h.name
                );
            }
        }
    }

    #[test]
    fn an_on_timeout_the_harness_lacks_denies_at_once() {
        let no_daemon = tempfile::tempdir().unwrap();
        for h in HARNESSES {
            for (on_timeout, has) in [(OnTimeout::Ask, h.can_ask), (OnTimeout::Defer, h.can_defer)]
            {
                if has {
                    continue;
                }
                let r = run(
                    h,
                    sample(h).as_bytes(),
                    &settings(on_timeout),
                    setup(no_daemon.path()),
                );
                assert!(blocks(&r), "{} {on_timeout:?}: {r:?}", h.name);
                assert!(
                    r.stderr.contains("has no"),
                    "{} {on_timeout:?}: {r:?}",
                    h.name
                );
            }
        }
    }

    #[test]
    fn a_tool_name_that_cannot_be_an_action_denies() {
        let h = crate::hooks::harness("claude-code").unwrap();
        let dir = tempfile::tempdir().unwrap();
        for tool in ["", "a/b", "x y", &"t".repeat(60)] {
            let input = serde_json::json!({
                "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": {}
            });
            let r = run(
                h,
                input.to_string().as_bytes(),
                &settings(OnTimeout::Deny),
                setup(dir.path()),
            );
            assert!(blocks(&r), "{tool:?}: {r:?}");
        }
    }

    #[test]
    fn outcomes_map_to_answers() {
        let o = |status: &str, by: Option<&str>, reason: Option<&str>| Outcome {
            id: "a1b2c3d4e5f6".into(),
            status: status.into(),
            decided_by: by.map(String::from),
            reason: reason.map(String::from),
            at_submit: false,
        };
        let table = [
            (o("approved", Some("cli:alice"), None), false, "allow"),
            (o("executed", Some("vault"), None), false, "allow"),
            (o("approved", Some("rule:agent-reads"), None), true, "allow"),
            (
                o("approved", Some("rule:agent-other-tools"), None),
                false,
                "none",
            ),
            // The journal naming a rule never makes a deny an allow.
            (o("rejected", Some("rule:agent-reads"), None), true, "deny"),
            (
                o("rejected", Some("vault"), Some("not on main")),
                false,
                "deny",
            ),
            (
                o("rejected", Some("rule:x"), Some("denied by rule:x")),
                false,
                "deny",
            ),
            (o("expired", None, None), true, "deny"),
            (o("cancelled", None, None), true, "deny"),
            (o("failed", Some("vault"), None), false, "deny"),
            (o("tampered", None, None), false, "deny"),
            (o("unknown", Some("vault"), None), false, "deny"),
            (o("pending", None, None), true, "deny"),
        ];
        for (outcome, allows, want) in table {
            let got = match answer_for(&outcome, allows) {
                Answer::Allow(_) => "allow",
                Answer::Deny(_) => "deny",
                Answer::NoOpinion => "none",
                a => panic!("{a:?}"),
            };
            assert_eq!(got, want, "{outcome:?}");
        }
        // Settled at submission: a rule decided, whatever the journal says.
        let mut auto = o("approved", Some("cli:forged"), None);
        auto.at_submit = true;
        assert_eq!(answer_for(&auto, false), Answer::NoOpinion);
        let rejected = o("rejected", Some("vault"), Some("not on main"));
        let Answer::Deny(why) = answer_for(&rejected, false) else {
            panic!()
        };
        assert!(
            why.contains("not on main") && why.contains("vault"),
            "{why}"
        );
    }
}
