//! The engine's pure core: `(state, input, now) -> (state, events, effects)`.
//!
//! No I/O and no clock: the engine loop ([`crate::engine`]) reads files,
//! generates ids, and passes `now`; it then journals the returned events
//! (fsync) before it carries out the effects. Every state change goes
//! through [`crate::request::apply`], the same fold the journal replay uses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::config::Config;
use crate::request::lookup::SettledLookups;
use crate::request::{
    Actor, ApplyError, Event, EventKind, Gesture, Id, Outcome, Ran, Request, SettledIndex, Status,
    apply,
};

mod brief;
mod codes;
pub mod dropin;
mod filing;
pub mod fold;
mod gesture;
mod io;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod note_tests;
#[cfg(test)]
mod reason_tests;
mod recover;
mod refusal;
mod scanner;
mod skeleton;
mod store;
mod submit;
#[cfg(test)]
mod tests;
mod timestamp;
mod trust;
#[cfg(test)]
mod trust_tests;

pub use dropin::drop_in_request;
pub use fold::{Fold, FoldError};
pub use io::{Decide, Effect, Folder, HandlerJob, Input, NewRequest, SeenNote, Step};
pub use refusal::Refusal;
pub use store::Parts;
pub use trust::Ledger;

pub struct Machine {
    config: Arc<Config>,
    /// Requests in full: the open ones, and those settled since the last
    /// [`Machine::compact`] (or brought back by [`Machine::restore`]).
    requests: BTreeMap<Id, Request>,
    /// Where the first and last journal lines of each request in
    /// `requests` start, once journaled: what a compact record keeps.
    spans: HashMap<Id, (u64, u64)>,
    /// Settled requests without their details (`show` reads those from
    /// the journal by the offsets kept here).
    settled: SettledIndex,
    /// The idempotency keys and drop-in fingerprints of `settled`.
    lookups: SettledLookups,
    /// Deadlines of pending requests, earliest first.
    deadlines: BTreeSet<(Timestamp, Id)>,
    /// Warnings shown in a pending request's note (not journaled: they
    /// describe the note, not the request).
    warnings: HashMap<Id, Vec<String>>,
    /// The zone notes show times in, to read back a date property the
    /// daemon wrote without an offset.
    tz: TimeZone,
    /// How many requests are not final, kept as events apply: the status
    /// reply and the logs show it after every batch.
    open: usize,
    /// Approvals counted, wrong codes, authenticator steps used, undo
    /// windows: a fold over the journal, like the requests.
    ledger: trust::Ledger,
    /// The secrets approval codes are checked with; until the engine gives
    /// them, no code matches.
    keys: Option<Arc<crate::trust::Keys>>,
    /// Requests by their requester's idempotency key.
    idem_keys: HashMap<String, Id>,
}

impl Machine {
    /// Rebuilds the state from journaled events.
    pub fn replay<'a>(
        config: Arc<Config>,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<Machine, ApplyError> {
        let mut requests = BTreeMap::new();
        let mut ledger = trust::Ledger::default();
        for ev in events {
            apply(&mut requests, ev)?;
            ledger.absorb(ev);
        }
        Ok(Machine::from_requests(config, requests, ledger))
    }

    /// The state from requests and the trust ledger already rebuilt (by a
    /// replay that streams the journal, or a checkpoint and the journal's
    /// tail).
    pub fn from_requests(
        config: Arc<Config>,
        requests: BTreeMap<Id, Request>,
        ledger: Ledger,
    ) -> Machine {
        let requests = packed(requests);
        let mut deadlines: BTreeSet<(Timestamp, Id)> = requests
            .values()
            .filter(|r: &&Request| r.status == Status::Pending)
            .map(|r| (r.sub.expires, r.id.clone()))
            .collect();
        deadlines.extend(ledger.windows());
        let open = requests.values().filter(|r| !r.status.is_final()).count();
        let keys = requests
            .values()
            .filter_map(|r| Some((r.sub.key.clone()?, r.id.clone())))
            .collect();
        Machine {
            config,
            requests,
            spans: HashMap::new(),
            settled: SettledIndex::default(),
            lookups: SettledLookups::default(),
            deadlines,
            warnings: HashMap::new(),
            tz: TimeZone::system(),
            open,
            ledger,
            keys: None,
            idem_keys: keys,
        }
    }

    /// The trust gate's journaled memory, for a checkpoint.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The zone notes are rendered in (the system's by default).
    pub fn set_time_zone(&mut self, tz: TimeZone) {
        self.tz = tz;
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn set_config(&mut self, config: Arc<Config>) {
        self.config = config;
    }

    pub fn requests(&self) -> &BTreeMap<Id, Request> {
        &self.requests
    }

    pub fn get(&self, id: &str) -> Option<&Request> {
        self.requests.get(id)
    }

    pub fn warnings(&self, id: &str) -> &[String] {
        self.warnings.get(id).map_or(&[], Vec::as_slice)
    }

    /// How many requests are not final yet.
    pub fn open_count(&self) -> usize {
        self.open
    }

    /// The earliest deadline, for the engine's sleep.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Finds a request, open or settled, by id or unique id prefix.
    pub fn resolve_id(&self, prefix: &str) -> Result<Id, Refusal> {
        let settled = self.settled.ids_starting(prefix, 2);
        resolve_prefix(self.requests.keys().chain(settled.iter()), prefix)
    }

    pub fn handle(&mut self, input: Input, now: Timestamp) -> Step {
        let mut step = Step::default();
        match input {
            Input::Submit(nr) => step.reply = Some(self.submit(&mut step, nr, now, None)),
            Input::Note(seen) => self.observe(&mut step, seen, now),
            Input::Decide(d) => step.reply = Some(self.decide(&mut step, d, now)),
            Input::Cancel { id, by, reason } => {
                step.reply = Some(self.cancel(&mut step, id, &by, reason, now))
            }
            Input::Resolve {
                id,
                executed,
                reason,
                by,
            } => step.reply = Some(self.resolve(&mut step, id, executed, reason, &by, now)),
            Input::HandlerDone { id, ran } => self.handler_done(&mut step, id, ran, now),
            Input::Tick => self.expire_due(&mut step, now),
        }
        step
    }

    /// An event that only records something about a request (a
    /// notification, [`EventKind::is_record_only`]), and a note rewrite so
    /// its History shows it. Nothing for an unknown request.
    pub fn record(&mut self, now: Timestamp, id: &str, actor: &Actor, kind: EventKind) -> Step {
        let mut step = Step::default();
        if self.requests.contains_key(id) && kind.is_record_only() {
            self.push(&mut step, now, id, actor, kind);
            step.effects.push(Effect::WriteNote {
                id: id.to_string(),
                adopt: None,
            });
        }
        step
    }

    fn cancel(
        &mut self,
        step: &mut Step,
        id: Id,
        by: &Actor,
        reason: Option<String>,
        now: Timestamp,
    ) -> Result<Id, Refusal> {
        if self.in_window(&id) {
            return Ok(self.revoke(step, now, id, by, None, Gesture::CommandLine));
        }
        self.require_pending(&id)?;
        let reason = reason.filter(|r| !r.trim().is_empty());
        self.finish_pending(step, now, &id, by, EventKind::Cancelled(reason));
        Ok(id)
    }

    /// A human settles an `unknown` request.
    fn resolve(
        &mut self,
        step: &mut Step,
        id: Id,
        executed: bool,
        reason: String,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Id, Refusal> {
        match self.requests.get(&id).map(|r| &r.status) {
            Some(Status::Unknown { .. }) => {}
            Some(s) => {
                let status = s.name();
                return Err(Refusal::NotUnknown { id, status });
            }
            None => match self.settled(&id) {
                Some(s) => {
                    let status = s.kind.name();
                    return Err(Refusal::NotUnknown { id, status });
                }
                None => return Err(Refusal::NoRequest(id)),
            },
        }
        self.push(step, now, &id, by, EventKind::Resolved { executed, reason });
        step.effects.push(Effect::WriteNote {
            id: id.clone(),
            adopt: None,
        });
        Ok(id)
    }

    fn handler_done(&mut self, step: &mut Step, id: Id, ran: Ran, now: Timestamp) {
        if !matches!(
            self.requests.get(&id).map(|r| &r.status),
            Some(Status::Executing { .. })
        ) {
            // Only a run the journal knows as running can finish.
            step.reply = Some(Err(Refusal::NotExecuting(id)));
            return;
        }
        let Ran { outcome, result } = ran;
        let (actor, kind) = match outcome {
            Outcome::Interrupted => {
                let why = result
                    .error
                    .unwrap_or_else(|| "hitl ended the handler".into());
                (Actor::Hitl, EventKind::Unknown { why })
            }
            Outcome::Exited(0) => (Actor::Handler, EventKind::Executed(result)),
            Outcome::Exited(_) | Outcome::NoExitCode | Outcome::SpawnFailed | Outcome::TimedOut => {
                (Actor::Handler, EventKind::Failed(result))
            }
        };
        self.push(step, now, &id, &actor, kind);
        step.effects.push(Effect::WriteNote { id, adopt: None });
    }

    fn expire_due(&mut self, step: &mut Step, now: Timestamp) {
        while let Some((at, id)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            if self.window_ended(step, now, at, &id) {
                continue;
            }
            self.finish_pending(step, now, &id, &Actor::Hitl, EventKind::Expired);
        }
    }

    fn require_pending(&self, id: &str) -> Result<&Request, Refusal> {
        match self.requests.get(id) {
            None => match self.settled(id) {
                Some(s) => Err(Refusal::NotPending {
                    id: id.into(),
                    status: s.kind.name(),
                }),
                None => Err(Refusal::NoRequest(id.into())),
            },
            Some(r) if r.status != Status::Pending => Err(Refusal::NotPending {
                id: id.into(),
                status: r.status.name(),
            }),
            Some(r) => Ok(r),
        }
    }

    fn decide(&mut self, step: &mut Step, d: Decide, now: Timestamp) -> Result<Id, Refusal> {
        let Decide {
            id,
            approve,
            reason,
            by,
            gesture,
            code,
        } = d;
        let (id, by, gesture) = (id.as_str(), &by, &gesture);
        if !approve && self.in_window(id) {
            let (id, gesture) = (id.to_string(), gesture.clone());
            return Ok(self.revoke(step, now, id, by, Some(reason), gesture));
        }
        let expires = self.require_pending(id)?.sub.expires;
        if now >= expires {
            // The deadline binds whenever the engine gets to a decision.
            self.finish_pending(step, now, id, &Actor::Hitl, EventKind::Expired);
            let id = id.into();
            return Err(Refusal::ExpiredFirst { id, expires });
        }
        if is_blank(reason.as_deref()) && self.needs_reason(id, approve) {
            return Err(Refusal::ReasonRequired { approve });
        }
        if approve {
            if let trust::Gate::Hold(refusal) =
                self.gate(step, now, id, by, gesture, code.as_deref())
            {
                return Err(refusal);
            }
            self.approve(step, now, id, by, reason, gesture);
        } else {
            let kind = EventKind::Rejected {
                reason,
                gesture: gesture.clone(),
            };
            self.finish_pending(step, now, id, by, kind);
        }
        self.warnings.remove(id);
        step.effects.push(Effect::WriteNote {
            id: id.to_string(),
            adopt: None,
        });
        Ok(id.to_string())
    }

    /// Whether deciding `id` this way needs a reason: its rule's policy,
    /// else the config's.
    fn needs_reason(&self, id: &str, approve: bool) -> bool {
        let rule = self.requests.get(id).and_then(|r| r.sub.rule.as_deref());
        self.config.reason_policy(rule).needs_reason(approve)
    }

    fn approve(
        &mut self,
        step: &mut Step,
        now: Timestamp,
        id: &str,
        by: &Actor,
        reason: Option<String>,
        gesture: &Gesture,
    ) {
        let action = &self.requests[id].sub.action;
        let runs_handler = self.config.handlers.contains_key(action);
        self.forget_deadline(id);
        let kind = EventKind::Approved {
            reason,
            gesture: gesture.clone(),
            runs_handler,
        };
        self.push(step, now, id, by, kind);
        if runs_handler && !self.hold(step, now, id) {
            self.start_handler(step, now, id);
        }
    }

    fn start_handler(&mut self, step: &mut Step, now: Timestamp, id: &str) {
        let Some(command) = self.job(id).map(|j| j.command) else {
            self.no_handler(step, now, id);
            return;
        };
        self.push(
            step,
            now,
            id,
            &Actor::Hitl,
            EventKind::Executing { command },
        );
        let job = self.job(id).expect("its handler was found above");
        step.effects.push(Effect::StartHandler {
            id: id.to_string(),
            job,
        });
    }

    /// An approved request whose action has no handler any more (the
    /// config changed): its run can't start, and says so.
    fn no_handler(&mut self, step: &mut Step, now: Timestamp, id: &str) {
        let action = &self.requests[id].sub.action;
        let why = format!("no handler is configured for `{action}` any more");
        self.push(step, now, id, &Actor::Hitl, EventKind::Unknown { why });
    }

    /// What the request's run is, as its state and the config say now.
    fn job(&self, id: &str) -> Option<HandlerJob> {
        let req = self.requests.get(id)?;
        let handler = self.config.handlers.get(&req.sub.action)?;
        Some(HandlerJob {
            action: req.sub.action.clone(),
            command: handler.command.clone(),
            env: handler.env.clone(),
            timeout: handler.timeout,
            payload_json: req.sub.payload.canonical().to_string(),
            decided_by: req.decision().map(|d| d.by.clone()).unwrap_or_default(),
            attempt: req.attempts,
        })
    }

    /// Ends a pending request (rejected, expired, cancelled, tampered).
    fn finish_pending(
        &mut self,
        step: &mut Step,
        now: Timestamp,
        id: &str,
        by: &Actor,
        kind: EventKind,
    ) {
        self.forget_deadline(id);
        self.warnings.remove(id);
        self.push(step, now, id, by, kind);
        step.effects.push(Effect::WriteNote {
            id: id.to_string(),
            adopt: None,
        });
    }

    /// A pending request's deadline goes when it is decided or ends.
    fn forget_deadline(&mut self, id: &str) {
        let expires = self.requests[id].sub.expires;
        self.deadlines.remove(&(expires, id.to_string()));
    }

    fn push(&mut self, step: &mut Step, now: Timestamp, id: &str, actor: &Actor, kind: EventKind) {
        let ev = Event {
            time: now,
            request: id.to_string(),
            actor: actor.clone(),
            kind,
        };
        let was_open = self.requests.get(id).is_some_and(|r| !r.status.is_final());
        apply(&mut self.requests, &ev).expect("the machine only makes valid transitions");
        self.ledger.absorb(&ev);
        let open = self.requests.get(id).is_some_and(|r| !r.status.is_final());
        match (was_open, open) {
            (false, true) => self.open += 1,
            (true, false) => self.open -= 1,
            _ => {}
        }
        step.events.push(ev);
    }
}

/// Finds the one id that starts with `prefix`.
pub fn resolve_prefix<'a>(ids: impl Iterator<Item = &'a Id>, prefix: &str) -> Result<Id, Refusal> {
    let matches: Vec<&Id> = ids.filter(|id| id.starts_with(prefix)).take(2).collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Refusal::NoMatch(prefix.into())),
        _ => Err(Refusal::Ambiguous(prefix.into())),
    }
}

/// No reason given: none at all, or only spaces.
fn is_blank(reason: Option<&str>) -> bool {
    reason.is_none_or(|r| r.trim().is_empty())
}

/// The map rebuilt with full nodes, each request's History at its exact
/// length: a replay or a checkpoint inserts one request at a time, which
/// leaves the B-tree's nodes about half empty (a node holds eleven
/// requests inline), and a History deserialised line by line has room for
/// four. With 10,000 open requests that was 2 MB of the map and 1.2 MB of
/// History (docs/perf-memory.md). Collecting an ordered iterator builds
/// the tree bottom-up, node by node.
fn packed(requests: BTreeMap<Id, Request>) -> BTreeMap<Id, Request> {
    requests
        .into_iter()
        .map(|(id, mut r)| {
            r.history.shrink_to_fit();
            (id, r)
        })
        .collect()
}
