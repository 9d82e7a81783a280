//! Notifications, the engine's side. After a batch is journaled its events
//! become [`Notice`]s handed to the delivery task without waiting (a full
//! queue is counted, logged, and journaled as a failure); delivery outcomes
//! come back as engine inputs and are journaled (`notified`,
//! `notify_failed`). Reminders are times the engine sleeps to, journaled
//! (`reminded`) before they are sent, so a restart never repeats one.

use std::collections::{BTreeSet, HashSet};

use jiff::Timestamp;
use tokio::sync::mpsc;

use super::{DaemonError, Engine};
use crate::notify::delivery::{self, Job, Notifier, Options, Outcome};
use crate::notify::desktop::DesktopAction;
use crate::notify::{EventKind as NoticeKind, Notice, NotifyConfig};
use crate::request::{Actor, Event, EventKind, Id, Request, Status};

/// Most characters of a handler's output a requester's outcome carries.
const OUTPUT_HEAD: usize = 4000;

/// The delivery task's handle and what comes back from it.
pub(super) struct Notices {
    notifier: Notifier,
    /// Delivery outcomes, journaled as they come.
    pub(super) outcomes: mpsc::Receiver<Outcome>,
    out_tx: mpsc::Sender<Outcome>,
    /// Approve/Reject clicked on a desktop notification.
    pub(super) actions: mpsc::UnboundedReceiver<DesktopAction>,
    actions_tx: mpsc::UnboundedSender<DesktopAction>,
    /// When each pending request's reminder is due.
    reminders: BTreeSet<(Timestamp, Id)>,
    /// Requests whose reminder is journaled: never sent again.
    reminded: HashSet<Id>,
    /// Jobs the full queue refused, since start.
    dropped: u64,
    /// The secrets the channels use, to blank out of any error journaled.
    secrets: Vec<String>,
    /// The vault's name as Obsidian knows it (its folder's name).
    vault_name: String,
}

impl Notices {
    /// Starts delivery for `config`; `reminded`: the requests whose
    /// reminder went out already.
    pub(super) fn start(
        config: &NotifyConfig,
        reminded: &BTreeSet<Id>,
        vault: &std::path::Path,
    ) -> Self {
        Notices::with_options(config, reminded, vault, Options::default())
    }

    fn with_options(
        config: &NotifyConfig,
        reminded: &BTreeSet<Id>,
        vault: &std::path::Path,
        opts: Options,
    ) -> Self {
        let (out_tx, outcomes) = mpsc::channel(opts.queue);
        let (actions_tx, actions) = mpsc::unbounded_channel();
        let notifier = delivery::start_with(config, opts, Some(actions_tx.clone()), out_tx.clone());
        let reminded = reminded.iter().cloned().collect();
        Notices {
            notifier,
            outcomes,
            out_tx,
            actions,
            actions_tx,
            reminders: BTreeSet::new(),
            reminded,
            dropped: 0,
            secrets: secrets(config),
            vault_name: vault
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "vault".into()),
        }
    }

    /// A new config: new channels (the old tasks finish what they hold).
    pub(super) fn reconfigure(&mut self, config: &NotifyConfig) {
        let tx = Some(self.actions_tx.clone());
        self.notifier = delivery::start_with(config, Options::default(), tx, self.out_tx.clone());
        self.secrets = secrets(config);
    }

    /// The earliest reminder due, for the engine's sleep.
    pub(super) fn next_reminder(&self) -> Option<Timestamp> {
        self.reminders.first().map(|(t, _)| *t)
    }

    /// Where a delivery's outcome goes to be journaled.
    pub(super) fn outcome_sender(&self) -> mpsc::Sender<Outcome> {
        self.out_tx.clone()
    }

    pub(super) fn actions_sender(&self) -> mpsc::UnboundedSender<DesktopAction> {
        self.actions_tx.clone()
    }

    /// Queues a job without waiting; a full queue is counted, logged, and
    /// comes back as a failed outcome so the journal shows it.
    fn queue(&mut self, job: Job) {
        let (id, event) = match &job {
            Job::Notice(n) => (n.id.clone(), n.kind.as_str().to_string()),
            Job::Requester { id, .. } => (id.clone(), "outcome".to_string()),
        };
        if self.notifier.queue(job) {
            return;
        }
        self.dropped += 1;
        tracing::warn!(request = %id, %event, dropped = self.dropped, "notification queue full: not sent");
        let _ = self.out_tx.try_send(Outcome {
            channel: "queue".into(),
            ids: vec![id],
            kind: None,
            event,
            attempts: 0,
            error: Some("the notification queue was full".into()),
        });
    }

    /// `error` with every channel secret blanked out.
    fn scrub(&self, error: &str) -> String {
        self.secrets
            .iter()
            .fold(error.to_string(), |e, s| e.replace(s.as_str(), "<hidden>"))
    }
}

/// The values of the channels' secrets that can be read now.
fn secrets(config: &NotifyConfig) -> Vec<String> {
    use crate::notify::ChannelKind;
    config
        .channels
        .iter()
        .filter_map(|c| match &c.kind {
            ChannelKind::Email(e) => e.password.clone(),
            ChannelKind::Webhook(w) => w.token.clone(),
            ChannelKind::Desktop => None,
        })
        .filter_map(|source| source.read().ok())
        .map(|s| s.expose().to_string())
        .filter(|s| s.len() >= 4)
        .collect()
}

impl Engine {
    /// Turns a journaled batch's events into notices, reminders and
    /// requester outcomes, queued without waiting.
    pub(super) fn notices_for(&mut self, events: &[Event]) {
        let mut told = HashSet::new();
        let mut jobs = Vec::new();
        let mut reminders = Vec::new();
        for ev in events {
            let Some(req) = self.machine.get(&ev.request) else {
                continue;
            };
            if let Some((kind, outcome)) = notice_kind(req, ev) {
                jobs.push(Job::Notice(Box::new(self.notice(req, kind, outcome))));
            }
            if matches!(ev.kind, EventKind::Submitted(_)) && req.status == Status::Pending {
                reminders.extend(self.reminder_time(req));
            }
            if !ev.kind.is_record_only()
                && req.status.exit_code().is_some()
                && let Some(url) = &req.sub.notify_requester
                && told.insert(req.id.clone())
            {
                jobs.push(Job::Requester {
                    id: req.id.clone(),
                    url: url.clone(),
                    body: outcome_json(req),
                });
            }
        }
        self.notices.reminders.extend(reminders);
        for job in jobs {
            self.notices.queue(job);
        }
    }

    /// When the request's reminder is due; none if it would come before
    /// (or with) the request itself, or went out already.
    fn reminder_time(&self, req: &Request) -> Option<(Timestamp, Id)> {
        let before = self.machine.config().notify.reminder_before;
        let before = jiff::SignedDuration::try_from(before).ok()?;
        let at = req.sub.expires.checked_sub(before).ok()?;
        let wanted = !before.is_zero() && at > req.sub.created;
        (wanted && !self.notices.reminded.contains(&req.id)).then(|| (at, req.id.clone()))
    }

    /// The pending requests' reminders, after a (re)start.
    pub(super) fn schedule_all_reminders(&mut self) {
        let due: Vec<(Timestamp, Id)> = self
            .machine
            .requests()
            .values()
            .filter(|r| r.status == Status::Pending)
            .filter_map(|r| self.reminder_time(r))
            .collect();
        // Built at once rather than extended one by one: an ordered set
        // collected has full B-tree nodes (docs/perf-memory.md).
        let kept = std::mem::take(&mut self.notices.reminders);
        self.notices.reminders = kept.into_iter().chain(due).collect();
    }

    /// Journals the reminders that are due (for requests still pending);
    /// the notices go out once that is journaled.
    pub(super) fn send_reminders(&mut self) -> Result<(), DaemonError> {
        let now = self.clock.now();
        let mut steps = Vec::new();
        while let Some((at, id)) = self.notices.reminders.first().cloned() {
            if at > now {
                break;
            }
            self.notices.reminders.remove(&(at, id.clone()));
            let pending = self.machine.get(&id).map(|r| &r.status) == Some(&Status::Pending);
            if pending && self.notices.reminded.insert(id.clone()) {
                steps.push(
                    self.machine
                        .record(now, &id, &Actor::Hitl, EventKind::Reminded),
                );
            }
        }
        if steps.is_empty() {
            return Ok(());
        }
        self.hold_history(&mut steps);
        self.commit(steps, Vec::new())
    }

    /// Journals delivery outcomes: this one and any others waiting.
    pub(super) fn on_delivery(&mut self, first: Outcome) -> Result<(), DaemonError> {
        let now = self.clock.now();
        let mut outcomes = vec![first];
        while outcomes.len() < 512 {
            match self.notices.outcomes.try_recv() {
                Ok(o) => outcomes.push(o),
                Err(_) => break,
            }
        }
        let mut steps = Vec::new();
        for o in outcomes {
            for id in &o.ids {
                let kind = match &o.error {
                    None => EventKind::Notified {
                        channel: o.channel.clone(),
                        event: o.event.clone(),
                        attempts: o.attempts,
                    },
                    Some(e) => EventKind::NotifyFailed {
                        channel: o.channel.clone(),
                        event: o.event.clone(),
                        attempts: o.attempts,
                        error: self.notices.scrub(e),
                    },
                };
                self.hydrate(id);
                steps.push(self.machine.record(now, id, &Actor::Hitl, kind));
            }
        }
        self.hold_history(&mut steps);
        self.commit(steps, Vec::new())
    }

    /// The notice about `req`, with where its note is.
    fn notice(&self, req: &Request, kind: NoticeKind, outcome: Option<String>) -> Notice {
        let config = self.machine.config();
        // Where the daemon files the note: a Done/ note is in its month.
        let folder = if req.status.is_final() {
            let month = crate::vault::month_of(req.settled_at(), &self.tz);
            format!("{}/{month}", config.folders.done)
        } else {
            config.folders.pending.clone()
        };
        let name = crate::vault::note_name(&req.sub.file_name, &req.id, false);
        let rule = req.sub.rule.clone();
        Notice {
            kind,
            id: req.id.clone(),
            action: req.sub.action.clone(),
            summary: req.sub.summary.clone(),
            risk: req.sub.risk,
            signals: req.sub.signals.iter().map(|s| s.says.clone()).collect(),
            payload: req.sub.payload.value(),
            deadline: req.sub.expires,
            rule: rule.clone().unwrap_or_else(|| "default".into()),
            vault: self.notices.vault_name.clone(),
            note: format!("{folder}/{name}"),
            outcome,
            runs_at: matches!(kind, NoticeKind::Decided)
                .then(|| self.machine.runs_at(&req.id))
                .flatten(),
            channels: rule.and_then(|r| config.notify.rule_channels.get(&r).cloned()),
        }
    }
}

/// What `ev` tells the person about `req`, if anything: requests a rule
/// decided at submission are told only when their run fails or is unknown.
fn notice_kind(req: &Request, ev: &Event) -> Option<(NoticeKind, Option<String>)> {
    let by_rule = req.decision().is_some_and(|d| d.by.starts_with("rule:"));
    let line = || Some(crate::note::history::line(ev));
    match &ev.kind {
        EventKind::Submitted(_) if req.status == Status::Pending => {
            Some((NoticeKind::Pending, None))
        }
        EventKind::Reminded => Some((NoticeKind::Reminder, None)),
        EventKind::Approved { .. } | EventKind::Rejected { .. } if by_rule => None,
        EventKind::Approved { .. }
        | EventKind::Rejected { .. }
        | EventKind::Expired
        | EventKind::Cancelled(_)
        | EventKind::Tampered { .. } => Some((NoticeKind::Decided, line())),
        EventKind::Executed(_) | EventKind::Resolved { .. } if by_rule => None,
        EventKind::Executed(_)
        | EventKind::Failed(_)
        | EventKind::Unknown { .. }
        | EventKind::Resolved { .. } => Some((NoticeKind::Result, line())),
        _ => None,
    }
}

/// What a requester's `--notify` URL receives once the request settles.
fn outcome_json(req: &Request) -> serde_json::Value {
    let decision = req.decision();
    let run = match &req.status {
        Status::Executed(e) | Status::Failed(e) => Some(&e.run),
        _ => None,
    };
    let output: Option<String> = run.map(|r| r.output.chars().take(OUTPUT_HEAD).collect());
    serde_json::json!({
        "id": req.id,
        "action": req.sub.action,
        "status": req.status.name(),
        "decided_by": decision.map(|d| d.by.clone()),
        "reason": decision.and_then(|d| d.reason.clone()),
        "exit_code": run.and_then(|r| r.exit_code),
        "output": output,
        "hitl_exit_code": req.status.exit_code(),
    })
}

#[cfg(test)]
#[path = "notices_tests.rs"]
mod tests;
