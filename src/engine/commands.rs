//! The CLI's commands as the engine sees them: turning them into machine
//! inputs, answering them once journaled, and waking `hitl wait` callers.

use std::time::Duration;

use jiff::Timestamp;

use super::{CommandMsg, DaemonError, Engine};
use crate::ipc::{Caller, Command, Reply};
use crate::machine::{Input, NewRequest, Step};
use crate::outcome::RequestOutcome;
use crate::request::{Gesture, Id, Source};

/// Which edge a command came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    Socket,
    /// Left in the inbox while the daemon was down.
    Inbox,
}

impl Via {
    fn source(self) -> Source {
        match self {
            Via::Socket => Source::Cli,
            Via::Inbox => Source::Inbox,
        }
    }

    fn gesture(self) -> Gesture {
        match self {
            Via::Socket => Gesture::CommandLine,
            Via::Inbox => Gesture::Queued,
        }
    }
}

impl Engine {
    pub(super) fn on_commands(&mut self, cmds: Vec<CommandMsg>) -> Result<(), DaemonError> {
        let now = self.clock.now();
        let mut steps = Vec::new();
        let mut replies = Vec::new();
        for (cmd, caller, reply) in cmds {
            if let Command::NotifyTest { channel } = cmd {
                self.notify_test(channel, reply);
                continue;
            }
            match self.command(cmd, &caller, now) {
                Ok((step, waiter_id)) => {
                    if let Some(id) = waiter_id {
                        let waiters = self.waiters.entry(id).or_default();
                        // Callers that hung up are forgotten, so a stream
                        // of abandoned waits can't pile up.
                        waiters.retain(|w| !w.is_closed());
                        waiters.push(reply);
                    } else {
                        replies.push((reply, step.reply.clone()));
                    }
                    steps.push(step);
                }
                Err(r) => {
                    let _ = reply.send(r);
                }
            }
        }
        self.commit(steps, replies)
    }

    /// Turns a command into a machine step; `Ok((_, Some(id)))` registers a waiter.
    pub(super) fn command(
        &mut self,
        cmd: Command,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<(Step, Option<Id>), Reply> {
        match cmd {
            Command::Wait { id } => {
                let id = self
                    .machine
                    .resolve_id(&id)
                    .map_err(|e| Reply::error(e.to_string()))?;
                Ok((Step::default(), Some(id)))
            }
            Command::Get { id } => Err(self
                .machine
                .resolve_id(&id)
                .map_or_else(|e| Reply::error(e.to_string()), |id| self.reply_for(&id))),
            Command::Status => Err(self.status_reply()),
            _ if self.outage.is_some() => {
                let why = self.outage_reason().unwrap_or_default();
                Err(Reply::error(format!("hitl is not taking new work: {why}")))
            }
            cmd => {
                let input = self
                    .change_input(cmd, caller, Via::Socket, None)
                    .map_err(|e| Reply::error(e.to_string()))?;
                self.hydrate_for(&input);
                Ok((self.machine.handle(input, now), None))
            }
        }
    }

    /// The machine input for a validated command that changes state; ids
    /// may be given as prefixes. The actor is the caller the kernel named,
    /// extended by its label; a new request gets `id`, or a fresh one.
    pub(super) fn change_input(
        &self,
        cmd: Command,
        caller: &Caller,
        via: Via,
        id: Option<Id>,
    ) -> Result<Input, crate::machine::Refusal> {
        let full = |prefix: &str| self.machine.resolve_id(prefix);
        let by = caller.actor(None);
        Ok(match cmd {
            Command::Submit(_) if let Err(e) = self.may_submit(caller) => return Err(e),
            Command::Submit(s) => Input::Submit(NewRequest {
                id: id.unwrap_or_else(|| self.fresh_id()),
                action: s.action,
                payload: s.payload,
                summary: s.summary,
                rationale: s.rationale,
                requested_by: caller.actor(s.label.as_deref()).to_string(),
                timeout: s.timeout_s.map(Duration::from_secs),
                expires: s.expires,
                file_name: None,
                source: via.source(),
                drop_in_sha256: None,
                notify_requester: s.notify_requester,
                key: s.key,
            }),
            Command::Decide {
                id,
                approve,
                reason,
                code,
            } => {
                let id = full(&id)?;
                if approve {
                    self.may_approve(caller, &id)?;
                }
                Input::Decide(crate::machine::Decide {
                    id,
                    approve,
                    reason,
                    by,
                    gesture: via.gesture(),
                    code,
                })
            }
            Command::Cancel { id, reason } => Input::Cancel {
                id: full(&id)?,
                by,
                reason,
            },
            Command::Resolve {
                id,
                executed,
                reason,
            } => Input::Resolve {
                id: full(&id)?,
                executed,
                reason,
                by,
            },
            Command::Wait { .. }
            | Command::Get { .. }
            | Command::Status
            | Command::NotifyTest { .. } => {
                return Err(crate::machine::Refusal::NotAChange);
            }
        })
    }

    /// The one-line status for systemd.
    pub(super) fn status_line(&self) -> String {
        let open = match self.open_count() {
            1 => "1 open request".to_string(),
            n => format!("{n} open requests"),
        };
        if self.outage.is_some() {
            return format!("{open}; NOT TAKING NEW WORK: the journal cannot be written");
        }
        if self.vault_missing {
            return format!("{open}; the vault is unavailable");
        }
        open
    }

    pub(super) fn status_reply(&self) -> Reply {
        let info = serde_json::json!({
            "pid": std::process::id(),
            "started": self.started.to_string(),
            "config_loaded_at": self.config_loaded_at.to_string(),
            "vault_available": !self.vault_missing,
            "uptime_s": (self.clock.now().as_second() - self.started.as_second()),
            "open": self.open_count(),
            "last_event": self.last_event.map(|t| t.to_string()),
            "vault": self.vault.root.display().to_string(),
            "degraded": self.outage_reason(),
            "start_up": self.start_reads(),
        });
        Reply::Status(info)
    }

    pub(super) fn open_count(&self) -> usize {
        self.machine.open_count()
    }

    /// The reply about request `id`; a refusal naming it when it is
    /// settled and its journal lines can't be read back (no status is
    /// given rather than a wrong one).
    pub(super) fn reply_for(&self, id: &str) -> Reply {
        let path = self.journal.path();
        let req = match super::details::lookup(&self.machine, path, self.journal.chain(), id) {
            Ok(r) => r,
            Err(error) => {
                tracing::error!(request = %id, %error, "a settled request's lines could not be read back: refused to answer about it");
                return Reply::error(format!(
                    "request {id} is settled, but its journal lines can't be read back: {error}"
                ));
            }
        };
        let req = req.as_deref();
        Reply::Request {
            id: id.to_string(),
            status: req.map(|r| r.status.name().to_string()),
            exit_code: req.and_then(|r| r.status.exit_code()),
            outcome: req.map(|r| Box::new(RequestOutcome::of(r))),
        }
    }

    pub(super) fn wake_waiters(&mut self) {
        let settled: Vec<Id> = self
            .waiters
            .keys()
            .filter(|id| {
                self.machine
                    .get(id)
                    .is_some_and(|r| r.status.exit_code().is_some())
            })
            .cloned()
            .collect();
        for id in settled {
            let reply = self.reply_for(&id);
            for tx in self.waiters.remove(&id).unwrap_or_default() {
                let _ = tx.send(reply.clone());
            }
        }
    }
}
