//! What goes into the machine and what comes out of it: inputs, effects
//! and the step that carries them with their journal events.

use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::Refusal;
use crate::note::{NoteError, NoteView};
use crate::request::{Actor, Event, Gesture, Id, Ran};

/// A request as the engine takes it, before the rules have seen it. Not a
/// wire format: the socket and inbox edges ([`crate::ipc::wire`]) and the
/// drop-in reader build it, and the daemon chooses its id, identity, source
/// and file name. `timeout` and `expires` are the requester's wishes, capped
/// at submission by the rule's or the config's limit.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    /// Chosen by the daemon; refused if already taken.
    pub id: Id,
    pub action: String,
    pub payload: Value,
    pub summary: Option<String>,
    pub rationale: Option<String>,
    pub requested_by: String,
    pub timeout: Option<Duration>,
    pub expires: Option<Timestamp>,
    pub file_name: Option<String>,
    pub source: crate::request::Source,
    /// For a drop-in: the fingerprint of the note it was taken from.
    pub drop_in_sha256: Option<String>,
    /// The requester's `--notify` URL (checked at the edge: http or https).
    pub notify_requester: Option<String>,
    /// The requester's idempotency key, checked by the machine.
    pub key: Option<String>,
}

pub use crate::vault::Folder;

#[derive(Debug)]
pub enum Input {
    Submit(NewRequest),
    /// A note was (re-)read.
    Note(SeenNote),
    Decide(Decide),
    Cancel {
        id: Id,
        by: Actor,
        reason: Option<String>,
    },
    Resolve {
        id: Id,
        executed: bool,
        reason: String,
        by: Actor,
    },
    /// A handler run ended.
    HandlerDone {
        id: Id,
        ran: Ran,
    },
    /// Time passed: expire what is due.
    Tick,
}

/// A note as the engine read it. `tracked` is the request whose note the
/// engine last knew at this path; `fresh_id` is used if the note is a
/// drop-in.
#[derive(Debug)]
pub struct SeenNote {
    pub path: PathBuf,
    pub folder: Folder,
    pub view: Result<NoteView, NoteError>,
    pub tracked: Option<Id>,
    pub fresh_id: Id,
}

/// A decision taken by a gesture (`gesture` names it: `cli`, `ticked
/// Approve`, `rule`, ...).
#[derive(Debug, Clone)]
pub struct Decide {
    pub id: Id,
    pub approve: bool,
    pub reason: Option<String>,
    pub by: Actor,
    pub gesture: Gesture,
    /// The approval code given with it (the note's `code`, `--code`).
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Re-render the request's note (moving it to `Done/` when final).
    /// `adopt` is a drop-in note the request now owns, with the drop-in's
    /// keys that went into the payload.
    WriteNote {
        id: Id,
        adopt: Option<(PathBuf, Vec<String>)>,
    },
    /// A note that is not (yet) a request gets a visible warning.
    Annotate { path: PathBuf, warning: String },
    /// Start the handler of a request whose `executing` is journaled in
    /// this batch: `job` is exactly what runs, fixed by the machine.
    StartHandler { id: Id, job: HandlerJob },
    /// Send a new request's approval codes: for each entry, whose code
    /// (`None`: the request's own) and the channels it goes to. The engine
    /// derives the codes; they are never in an effect or an event.
    SendCodes {
        id: Id,
        codes: Vec<(Option<String>, Vec<String>)>,
    },
}

/// Everything a handler start needs, taken from the request and the
/// config when its `executing` event is made, so the engine has nothing to
/// look up (and nothing to skip) when it carries the start out.
#[derive(Clone, PartialEq)]
pub struct HandlerJob {
    pub action: String,
    pub command: Vec<String>,
    /// The handler's own variables; may hold secrets (`Debug` shows names).
    pub env: std::collections::BTreeMap<String, String>,
    pub timeout: std::time::Duration,
    pub payload_json: String,
    pub decided_by: String,
    /// The run's attempt number, as journaled: names its run marker.
    pub attempt: u32,
}

impl std::fmt::Debug for HandlerJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerJob")
            .field("action", &self.action)
            .field("command", &self.command)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// What one input produced.
#[derive(Debug, Default)]
pub struct Step {
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
    /// For inputs with a caller (CLI): the request id, or why it was refused.
    pub reply: Option<Result<Id, Refusal>>,
}
