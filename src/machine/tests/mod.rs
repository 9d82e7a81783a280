//! Table tests of the pure transition function. Each row is (journal so
//! far, input) → (event kinds, effects, reply): the journal prefix is a few
//! inputs built with the helpers below, replayed through the machine; no
//! files and no clock. A row may add checks of the state after the input
//! ([`Also`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::note;

mod gestures;
mod recovery;
mod submission;

const CONFIG: &str = r#"
rules:
  - { name: huge, when: { amount: { gt: 10000 } }, decision: deny }
  - { name: large, when: { type: payment, amount: { gte: 500 } }, decision: require }
  - { name: small, when: { type: payment }, decision: auto }
default: require
reject_reason_required: false
handlers:
  payment: { command: [/bin/true] }
  refund: { command: [/bin/true], idempotent: true }
"#;

pub(super) fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

/// Notes are shown in a zone other than UTC, so that comparing dates by
/// the instant they denote is exercised.
pub(super) fn tz() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::fixed(jiff::tz::offset(3))
}

pub(super) fn machine() -> Machine {
    let config = Arc::new(Config::parse(CONFIG, "test").unwrap());
    let mut m = Machine::replay(config, &[]).unwrap();
    m.set_time_zone(tz());
    m
}

pub(super) fn new(id: &str, action: &str, payload: serde_json::Value) -> NewRequest {
    NewRequest {
        id: id.into(),
        action: action.into(),
        payload,
        summary: None,
        rationale: None,
        requested_by: "cli:test".into(),
        timeout: Some(Duration::from_secs(60)),
        expires: None,
        file_name: None,
        source: crate::request::Source::Cli,
        drop_in_sha256: None,
        notify_requester: None,
        key: None,
    }
}

pub(super) fn names(step: &Step) -> Vec<&'static str> {
    step.events.iter().map(|e| e.kind.name()).collect()
}

pub(super) fn status(m: &Machine, id: &str) -> &'static str {
    m.get(id).unwrap().status.name()
}

/// The input a note of request `id`, rendered and then edited, makes when
/// it is read in `folder`.
pub(super) fn note_input(
    m: &Machine,
    id: &str,
    folder: Folder,
    edit: impl Fn(String) -> String,
) -> Input {
    let req = m.get(id).unwrap();
    let text = edit(note::render(req, &[], None, &tz()));
    Input::Note(SeenNote {
        path: PathBuf::from("Pending_Approval/n.md"),
        folder,
        view: note::parse(&text),
        tracked: Some(id.into()),
        fresh_id: "fresh".into(),
    })
}

/// One input to the machine at a time (seconds after [`t`]`(0)`).
pub(super) struct Act {
    at: i64,
    what: Do,
}

enum Do {
    /// An input, built from the state it meets (a note is rendered from
    /// its request).
    Input(Box<dyn Fn(&Machine) -> Input>),
    /// Start-up recovery; the (request, attempt) pairs whose run marker
    /// exists.
    Recover(Vec<(&'static str, u32)>),
}

impl Act {
    pub(super) fn at(mut self, secs: i64) -> Act {
        self.at = secs;
        self
    }
}

fn input(f: impl Fn(&Machine) -> Input + 'static) -> Act {
    Act {
        at: 0,
        what: Do::Input(Box::new(f)),
    }
}

/// A CLI submission of `action` with this payload.
pub(super) fn submit(id: &'static str, action: &'static str, payload: serde_json::Value) -> Act {
    input(move |_| Input::Submit(new(id, action, payload.clone())))
}

/// A payment of `amount` (rules: > 10000 denied, >= 500 required, else auto).
pub(super) fn pay(id: &'static str, amount: u64) -> Act {
    submit(id, "payment", json!({ "amount": amount }))
}

/// A CLI decision, as an input.
pub(in crate::machine) fn cli_decision(id: &str, approve: bool) -> Input {
    Input::Decide(Decide {
        id: id.into(),
        approve,
        reason: None,
        by: "cli".into(),
        gesture: "cli".into(),
        code: None,
    })
}

/// A CLI decision.
pub(super) fn decide(id: &'static str, approve: bool) -> Act {
    input(move |_| cli_decision(id, approve))
}

pub(super) fn tick() -> Act {
    input(|_| Input::Tick)
}

/// Request `id`'s note, edited, read in `folder`.
pub(super) fn note_seen(
    id: &'static str,
    folder: Folder,
    edit: impl Fn(String) -> String + 'static,
) -> Act {
    input(move |m| note_input(m, id, folder, &edit))
}

/// A note that isn't a request's, read at `path` in `folder`.
pub(super) fn foreign_note(path: &'static str, folder: Folder, text: &'static str) -> Act {
    input(move |_| {
        Input::Note(SeenNote {
            path: path.into(),
            folder,
            view: note::parse(text),
            tracked: None,
            fresh_id: "d1".into(),
        })
    })
}

pub(super) fn recover(markers: &[(&'static str, u32)]) -> Act {
    Act {
        at: 0,
        what: Do::Recover(markers.to_vec()),
    }
}

fn perform(m: &mut Machine, act: &Act) -> Step {
    let now = t(act.at);
    match &act.what {
        Do::Input(f) => {
            let input = f(m);
            m.handle(input, now)
        }
        Do::Recover(markers) => m.recover(now, |id, n| markers.contains(&(id, n))),
    }
}

/// An effect as a row names it: its kind and the request (or, for an
/// annotation, the path) it is for.
fn effect(e: &Effect) -> (&'static str, String) {
    match e {
        Effect::WriteNote { id, adopt: None } => ("write", id.clone()),
        Effect::WriteNote { id, adopt: Some(_) } => ("adopt", id.clone()),
        Effect::Annotate { path, .. } => ("annotate", path.display().to_string()),
        Effect::StartHandler { id, .. } => ("start", id.clone()),
        Effect::SendCodes { id, .. } => ("codes", id.clone()),
    }
}

/// A check of the state after a row's input.
pub(super) enum Also {
    /// The request's status.
    Status(&'static str, &'static str),
    /// Event `n` of the step was made by this actor.
    Actor(usize, &'static str),
    /// The request's note shows a warning.
    Warned(&'static str),
    /// The request's journaled run attempts.
    Attempts(&'static str, u32),
    /// The machine's next deadline.
    Deadline(Option<i64>),
}

pub(super) struct Row {
    what: &'static str,
    given: Vec<Act>,
    input: Act,
    events: &'static [&'static str],
    effects: &'static [(&'static str, &'static str)],
    reply: Option<Result<Id, Refusal>>,
    also: Vec<Also>,
}

pub(super) fn row(
    what: &'static str,
    given: Vec<Act>,
    input: Act,
    events: &'static [&'static str],
    effects: &'static [(&'static str, &'static str)],
    reply: Option<Result<Id, Refusal>>,
) -> Row {
    Row {
        what,
        given,
        input,
        events,
        effects,
        reply,
        also: Vec::new(),
    }
}

impl Row {
    pub(super) fn also(mut self, check: Also) -> Row {
        self.also.push(check);
        self
    }
}

pub(super) fn ok(id: &str) -> Option<Result<Id, Refusal>> {
    Some(Ok(id.into()))
}

pub(super) fn refused(why: Refusal) -> Option<Result<Id, Refusal>> {
    Some(Err(why))
}

/// Runs each row on a fresh machine; returns how many checks ran.
pub(super) fn run(rows: Vec<Row>) -> usize {
    let mut checks = 0;
    for row in rows {
        let mut m = machine();
        for act in &row.given {
            perform(&mut m, act);
        }
        let step = perform(&mut m, &row.input);
        let w = row.what;
        assert_eq!(names(&step), row.events, "{w}: events {:?}", step.events);
        let effects: Vec<_> = step.effects.iter().map(effect).collect();
        let want: Vec<_> = row
            .effects
            .iter()
            .map(|(k, id)| (*k, id.to_string()))
            .collect();
        assert_eq!(effects, want, "{w}: effects");
        assert_eq!(step.reply, row.reply, "{w}: reply");
        checks += 3;
        for also in &row.also {
            check(&m, &step, also, w);
            checks += 1;
        }
    }
    checks
}

fn check(m: &Machine, step: &Step, also: &Also, w: &str) {
    match *also {
        Also::Status(id, want) => assert_eq!(status(m, id), want, "{w}: status of {id}"),
        Also::Actor(n, want) => assert_eq!(step.events[n].actor.to_string(), want, "{w}"),
        Also::Warned(id) => assert!(!m.warnings(id).is_empty(), "{w}: {id} shows a warning"),
        Also::Attempts(id, n) => assert_eq!(m.get(id).unwrap().attempts, n, "{w}: attempts"),
        Also::Deadline(at) => assert_eq!(m.next_deadline(), at.map(t), "{w}: next deadline"),
    }
}
