//! Requests and the journal events that change them.
//!
//! A request's state is a fold over its events: [`apply`] is used both when
//! the engine makes a transition and when the journal is replayed at start,
//! so the two can never disagree. The lifecycle itself is one table,
//! [`next`] (in `transition.rs`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::rules::Risk;

mod actor;
mod gesture;
pub mod lookup;
mod payload;
pub mod settled;
pub mod settled_file;
pub mod settled_index;
mod transition;

pub use actor::Actor;
pub use gesture::{Gesture, VaultGesture};
pub use payload::Payload;

pub use settled::{Kind, Settled, SettledIndex};
pub use transition::{BadTransition, next};

pub type Id = String;

/// Everything fixed when a request is accepted. The payload here is the one
/// that runs; the note only displays it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub action: String,
    /// Its canonical JSON text ([`Payload`]), not a tree: the bytes that
    /// run and that `payload_sha256` hashes.
    pub payload: Payload,
    pub payload_sha256: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    pub requested_by: String,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub risk: Risk,
    pub signals: Vec<Signal>,
    /// The deciding rule; `None` when the default applied.
    pub rule: Option<String>,
    /// The note's file name, kept when the note moves between folders.
    pub file_name: String,
    /// Where it came from.
    pub source: Source,
    /// For a drop-in: the fingerprint of the note it was taken from
    /// ([`crate::machine::dropin::fingerprint`]), so the same file is never
    /// taken twice, also after a restart, if its rewrite failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_in_sha256: Option<String>,
    /// Where the requester asked to be told the outcome (`--notify URL`);
    /// absent in journals written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_requester: Option<String>,
    /// The requester's idempotency key: a second submit with it, from the
    /// same requester with the same action and payload, is answered with
    /// this request ([`crate::ipc::Submit::key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Where a request came from; journaled as `cli`, `inbox` or `drop-in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The CLI, over the socket.
    Cli,
    /// The state folder's inbox, queued while the daemon was down.
    Inbox,
    /// A note written into the pending folder.
    DropIn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub level: Risk,
    pub says: String,
}

/// What a handler run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// The head of stdout and stderr; the full output is in the state folder.
    pub output: String,
    pub truncated: bool,
    /// Why there is no exit code (spawn failure, timeout), or a settling note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a handler run ended, as the executor saw it. The journal records
/// the run as `executed`, `failed` or `unknown` with its [`RunResult`];
/// this is what the engine decides that from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It exited by itself with this code.
    Exited(i32),
    /// It ended without an exit code (a signal, or its status was lost).
    NoExitCode,
    /// It could not be started (spawn error, or its run marker could not
    /// be written): it certainly did not run.
    SpawnFailed,
    /// hitl ended it at its handler's timeout.
    TimedOut,
    /// hitl ended it on shutdown, or did not start it again because it may
    /// have run before: its effect is unknown.
    Interrupted,
}

/// A handler run's end: its outcome and the record the journal keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    pub outcome: Outcome,
    pub result: RunResult,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "details", rename_all = "snake_case")]
pub enum EventKind {
    Submitted(Box<Submission>),
    Approved {
        reason: Option<String>,
        gesture: Gesture,
        /// Whether a handler will run; `false` makes `approved` final.
        runs_handler: bool,
    },
    Rejected {
        reason: Option<String>,
        gesture: Gesture,
    },
    Expired,
    /// Withdrawn by its requester; the details are the reason given, if
    /// any (absent in journals written before cancel took a reason).
    Cancelled(#[serde(default)] Option<String>),
    Tampered {
        found_sha256: Option<String>,
        /// What was changed where only hitl writes, in words. Absent in
        /// journals written before it was recorded.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changed: Vec<String>,
    },
    Executing {
        command: Vec<String>,
    },
    Executed(RunResult),
    Failed(RunResult),
    Unknown {
        why: String,
    },
    Resolved {
        executed: bool,
        reason: String,
    },
    /// The journal itself, not a request (journaled for request
    /// [`JOURNAL_EVENTS`]): a journal from before the key was re-chained
    /// with HMACs, once. It records the old SHA-256 head, so a copy of it
    /// kept elsewhere can still be compared.
    JournalKeyed {
        legacy_events: u64,
        legacy_head_sha256: Option<String>,
    },
    /// One approver's approval counted toward the request's: a code was
    /// accepted, or one of a quorum approved (DESIGN.md, "Trust").
    Endorsed {
        /// Who it counts as: a CLI user, an approver whose own code was
        /// used, or `vault` (anonymous, counted once).
        approver: String,
        gesture: Gesture,
        /// The authenticator app's time step, which no request takes twice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        totp_step: Option<u64>,
        /// How many distinct approvers it needs in all.
        of: u32,
    },
    /// A gesture came with a wrong code (the code itself is not kept).
    WrongCode {
        gesture: Gesture,
        count: u32,
    },
    /// Approved, and its handler waits until `until` (the rule's `grace`),
    /// unless the decision is reversed before.
    Held {
        until: Timestamp,
    },
    /// The approval was reversed in its undo window: the handler never ran.
    Revoked {
        reason: Option<String>,
        gesture: Gesture,
        /// By `hitl cancel` rather than a rejection.
        #[serde(default)]
        cancelled: bool,
    },
    /// A settled request's note was moved into the folder of its month
    /// (`Done/2026-11`), from directly in `Done/`. Changes no state.
    Filed {
        folder: String,
    },
    /// A notification about the request was delivered on a channel. Only a
    /// History line: no state change (see [`EventKind::is_record_only`]).
    Notified {
        channel: String,
        /// `pending`, `reminder`, `decided`, `result`, `digest`, `outcome`.
        event: String,
        attempts: u32,
    },
    /// A notification could not be delivered after its last attempt; the
    /// error never holds a secret. No state change.
    NotifyFailed {
        channel: String,
        event: String,
        attempts: u32,
        error: String,
    },
    /// The reminder before the deadline went out (journaled before it is
    /// sent, so a restart never repeats it). No state change.
    Reminded,
    /// The journal itself (request [`JOURNAL_EVENTS`]): its head, the line
    /// before this one (`seq`, `mac`), was sent to `channel` as the audit
    /// anchor, or sending it failed (`error`; retried later).
    Anchored {
        seq: u64,
        mac: String,
        channel: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// The request id of events about the journal itself ([`EventKind::JournalKeyed`]);
/// never a request's id (ids are generated, see [`is_id`]).
pub const JOURNAL_EVENTS: &str = "journal";

/// One journal event, before the journal adds its sequence number and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time: Timestamp,
    pub request: Id,
    pub actor: Actor,
    pub kind: EventKind,
}

/// A request's state; each variant carries what is valid in it: the
/// decision from the moment there is one, the run's record once it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Status {
    Pending,
    /// Approved, and final: no handler is configured, the requester acts.
    Approved {
        decision: Decision,
    },
    /// Approved; its handler will run.
    ApprovedToRun {
        decision: Decision,
    },
    Executing {
        decision: Decision,
        started: Timestamp,
    },
    /// Boxed, as `Failed`: a run's record would make every request,
    /// open ones too, as large as the biggest state.
    Executed(Box<Ended>),
    Failed(Box<Ended>),
    Rejected {
        decision: Decision,
    },
    Expired,
    /// Withdrawn by its requester (`by`), with the reason given.
    Cancelled {
        by: String,
        at: Timestamp,
        reason: Option<String>,
    },
    Tampered,
    /// A run whose outcome hitl can't know; a human resolves it.
    Unknown {
        decision: Decision,
        why: String,
    },
}

/// How a run ended, as the journal recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ended {
    pub decision: Decision,
    /// When the handler's result was journaled; `None` when a human
    /// settled an unknown run ([`EventKind::Resolved`]).
    pub executed_at: Option<Timestamp>,
    pub run: RunResult,
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved { .. } | Status::ApprovedToRun { .. } => "approved",
            Status::Executing { .. } => "executing",
            Status::Executed(_) => "executed",
            Status::Failed(_) => "failed",
            Status::Rejected { .. } => "rejected",
            Status::Expired => "expired",
            Status::Cancelled { .. } => "cancelled",
            Status::Tampered => "tampered",
            Status::Unknown { .. } => "unknown",
        }
    }

    /// A final state never changes again; its note lives in `Done/`.
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            Status::Pending
                | Status::ApprovedToRun { .. }
                | Status::Executing { .. }
                | Status::Unknown { .. }
        )
    }

    /// The exit code of `hitl wait` once the requester can stop waiting, or
    /// `None` while it must go on waiting.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Status::Pending | Status::ApprovedToRun { .. } | Status::Executing { .. } => None,
            Status::Approved { .. } | Status::Executed(_) => Some(0),
            Status::Rejected { .. } => Some(3),
            Status::Expired => Some(4),
            Status::Failed(_) => Some(5),
            Status::Cancelled { .. } | Status::Tampered | Status::Unknown { .. } => Some(6),
        }
    }

    /// The human's (or rule's) decision, once there is one.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            Status::Approved { decision }
            | Status::ApprovedToRun { decision }
            | Status::Executing { decision, .. }
            | Status::Rejected { decision }
            | Status::Unknown { decision, .. } => Some(decision),
            Status::Executed(e) | Status::Failed(e) => Some(&e.decision),
            Status::Pending | Status::Expired | Status::Cancelled { .. } | Status::Tampered => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub approved: bool,
    pub by: String,
    pub at: Timestamp,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: Id,
    /// Boxed: the machine's map of open requests holds a `Request` per
    /// slot, and most of a submission's bytes would otherwise sit in the
    /// B-tree's half-empty nodes (docs/perf-memory.md). The journal's
    /// `submitted` event carries the same box, which a replay moves in.
    pub sub: Box<Submission>,
    pub status: Status,
    /// How many times its handler was started.
    pub attempts: u32,
    /// One line per journal event, for the note's History section
    /// (worded by [`crate::note::history`]).
    pub history: Vec<(Timestamp, String)>,
    /// Whether the reminder before its deadline went out (`reminded`).
    #[serde(default)]
    pub reminded: bool,
    /// Notifications about it given up on (`notify_failed`), for the
    /// dashboard; kept here so a checkpoint keeps them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undelivered: Vec<Undelivered>,
    /// Approval codes journaled as delivered (`notified` with event `code`
    /// or `code for <approver>`): (event, channel). A start sends the
    /// others again; kept here so a checkpoint keeps them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes_delivered: Vec<(String, String)>,
    /// Whether its last journaled event was record-only (a notification),
    /// which a crash may have kept out of its note's History.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub last_record_only: bool,
}

/// Whether a `notified` event's `event` is an approval code's delivery.
pub fn is_code_event(event: &str) -> bool {
    event == "code" || event.starts_with("code for ")
}

/// A notification given up on: a `notify_failed` event's details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Undelivered {
    pub at: Timestamp,
    pub channel: String,
    pub event: String,
    pub attempts: u32,
    pub error: String,
}

impl Request {
    /// The last run's result, if any.
    pub fn result(&self) -> Option<&RunResult> {
        match &self.status {
            Status::Executed(e) | Status::Failed(e) => Some(&e.run),
            _ => None,
        }
    }

    pub fn decision(&self) -> Option<&Decision> {
        self.status.decision()
    }

    /// When it reached its current state: its last event that changed it
    /// (a note's filing under its month changes nothing).
    pub fn settled_at(&self) -> Timestamp {
        self.history
            .iter()
            .rev()
            .find(|(_, line)| !crate::note::history::is_filing(line))
            .map_or(self.sub.created, |(t, _)| *t)
    }

    pub fn executed_at(&self) -> Option<Timestamp> {
        match &self.status {
            Status::Executed(e) | Status::Failed(e) => e.executed_at,
            _ => None,
        }
    }
}

/// Why an event could not be applied: the journal disagrees with itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    #[error("request {0} is submitted twice")]
    Duplicate(Id),
    #[error("event for unknown request {0}")]
    UnknownRequest(Id),
    #[error("request {id}: {transition}")]
    BadTransition { id: Id, transition: BadTransition },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Submitted(_) => "submitted",
            EventKind::Approved { .. } => "approved",
            EventKind::Rejected { .. } => "rejected",
            EventKind::Expired => "expired",
            EventKind::Cancelled(_) => "cancelled",
            EventKind::Tampered { .. } => "tampered",
            EventKind::Executing { .. } => "executing",
            EventKind::Executed(_) => "executed",
            EventKind::Failed(_) => "failed",
            EventKind::Unknown { .. } => "unknown",
            EventKind::Resolved { .. } => "resolved",
            EventKind::JournalKeyed { .. } => "journal_keyed",
            EventKind::Endorsed { .. } => "endorsed",
            EventKind::WrongCode { .. } => "wrong_code",
            EventKind::Held { .. } => "held",
            EventKind::Revoked { .. } => "revoked",
            EventKind::Filed { .. } => "filed",
            EventKind::Notified { .. } => "notified",
            EventKind::NotifyFailed { .. } => "notify_failed",
            EventKind::Reminded => "reminded",
            EventKind::Anchored { .. } => "anchored",
        }
    }

    /// Events that only record something about a request (a notification)
    /// and never change its state: they follow any state, final or not.
    pub fn is_record_only(&self) -> bool {
        matches!(
            self,
            EventKind::Notified { .. } | EventKind::NotifyFailed { .. } | EventKind::Reminded
        )
    }
}

/// Applies one event to the set of requests: a new request for
/// `submitted`, otherwise the transition [`next`] allows.
pub fn apply(requests: &mut BTreeMap<Id, Request>, ev: &Event) -> Result<(), ApplyError> {
    if matches!(
        ev.kind,
        EventKind::JournalKeyed { .. } | EventKind::Anchored { .. }
    ) {
        return Ok(()); // about the journal, no request's state
    }
    let line = crate::note::history::line(ev);
    if let EventKind::Submitted(sub) = &ev.kind {
        if requests.contains_key(&ev.request) {
            return Err(ApplyError::Duplicate(ev.request.clone()));
        }
        let req = Request {
            id: ev.request.clone(),
            sub: sub.clone(),
            status: Status::Pending,
            attempts: 0,
            history: vec![(ev.time, line)],
            reminded: false,
            undelivered: Vec::new(),
            codes_delivered: Vec::new(),
            last_record_only: false,
        };
        requests.insert(ev.request.clone(), req);
        return Ok(());
    }
    let req = requests
        .get_mut(&ev.request)
        .ok_or_else(|| ApplyError::UnknownRequest(ev.request.clone()))?;
    req.last_record_only = ev.kind.is_record_only();
    if ev.kind.is_record_only() {
        match &ev.kind {
            EventKind::Reminded => req.reminded = true,
            EventKind::Notified { channel, event, .. } if is_code_event(event) => {
                let d = (event.clone(), channel.clone());
                if !req.codes_delivered.contains(&d) {
                    req.codes_delivered.push(d);
                }
            }
            EventKind::NotifyFailed {
                channel,
                event,
                attempts,
                error,
            } => req.undelivered.push(Undelivered {
                at: ev.time,
                channel: channel.clone(),
                event: event.clone(),
                attempts: *attempts,
                error: error.clone(),
            }),
            _ => {}
        }
        req.history.push((ev.time, line));
        return Ok(());
    }
    req.status = next(&req.status, ev).map_err(|transition| ApplyError::BadTransition {
        id: req.id.clone(),
        transition,
    })?;
    if matches!(ev.kind, EventKind::Executing { .. }) {
        req.attempts += 1;
    }
    req.history.push((ev.time, line));
    Ok(())
}

/// [`apply`] for an event the caller owns (a replay): the submission moves
/// into the request instead of being copied.
pub fn apply_owned(requests: &mut BTreeMap<Id, Request>, ev: Event) -> Result<(), ApplyError> {
    if !matches!(ev.kind, EventKind::Submitted(_)) || requests.contains_key(&ev.request) {
        return apply(requests, &ev);
    }
    let line = crate::note::history::line(&ev);
    let EventKind::Submitted(sub) = ev.kind else {
        unreachable!("matched above")
    };
    let req = Request {
        id: ev.request.clone(),
        sub,
        status: Status::Pending,
        attempts: 0,
        history: vec![(ev.time, line)],
        reminded: false,
        undelivered: Vec::new(),
        codes_delivered: Vec::new(),
        last_record_only: false,
    };
    requests.insert(ev.request, req);
    Ok(())
}

pub fn describe_run(r: &RunResult) -> String {
    let code = r
        .exit_code
        .map_or("no exit code".to_string(), |c| format!("exit {c}"));
    match &r.error {
        Some(e) => format!("{code}, {} ms ({e})", r.duration_ms),
        None => format!("{code}, {} ms", r.duration_ms),
    }
}

/// A new random request id: 12 hex digits from the kernel's generator, the
/// first always a letter, so YAML never reads an id as a number.
pub fn new_id() -> Id {
    let mut bytes = [0u8; 6];
    // The getrandom(2) system call needs no file descriptor, so running out
    // of them (EMFILE) can't make this fail; it blocks only until the
    // kernel's pool is first seeded at boot.
    getrandom::fill(&mut bytes).expect("the kernel's random generator is available");
    bytes[0] = ((10 + (bytes[0] >> 4) % 6) << 4) | (bytes[0] & 0x0f);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `text` has the shape of an id [`new_id`] makes. Every id that
/// comes from outside and may reach a path is checked with this.
pub fn is_id(text: &str) -> bool {
    text.len() == 12
        && matches!(text.as_bytes()[0], b'a'..=b'f')
        && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests;
