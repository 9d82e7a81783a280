//! What comes back from notification channels as a command: Approve or
//! Reject clicked on a desktop notification (a decision gesture like the
//! CLI's, through the same machine path: deadline, reason policy), and
//! `hitl notify test` through the running daemon's config.

use tokio::sync::oneshot;

use super::{DaemonError, Engine};
use crate::ipc::Reply;
use crate::machine::{Decide, Input};
use crate::notify::Notice;
use crate::notify::delivery::{Message, Transport};
use crate::notify::desktop::{Decision, DesktopAction};
use crate::request::{Actor, Gesture};

impl Engine {
    /// A click on a notification's Approve/Reject: decided like `hitl
    /// approve|reject`, journaled with the channel as the actor.
    pub(super) fn on_desktop_action(&mut self, a: DesktopAction) -> Result<(), DaemonError> {
        let approve = a.decision == Decision::Approve;
        let word = if approve { "Approve" } else { "Reject" };
        let input = Input::Decide(Decide {
            id: a.id.clone(),
            approve,
            reason: None,
            code: None,
            by: Actor::Named(format!("desktop:{}", a.channel)),
            gesture: Gesture::Named(format!("{word} on the desktop notification")),
        });
        self.hydrate_for(&input);
        let step = self.machine.handle(input, self.clock.now());
        if let Some(Err(refusal)) = &step.reply {
            tracing::warn!(request = %a.id, channel = %a.channel, %refusal, "desktop action not taken");
        }
        self.commit(vec![step], Vec::new())
    }

    /// Sends a test notice through the configured channels (or the named
    /// one), once each, off the engine's task; replies with each result.
    pub(super) fn notify_test(&mut self, only: Option<String>, reply: oneshot::Sender<Reply>) {
        let channels: Vec<_> = self
            .machine
            .config()
            .notify
            .channels
            .iter()
            .filter(|c| only.as_ref().is_none_or(|n| &c.name == n))
            .cloned()
            .collect();
        if channels.is_empty() {
            let why = match only {
                Some(n) => format!("no notify channel named `{n}` in the daemon's config"),
                None => "no notify channels in the daemon's config".into(),
            };
            let _ = reply.send(Reply::error(why));
            return;
        }
        let actions = self.notices.actions_sender();
        let now = self.clock.now();
        tokio::spawn(async move {
            let msg = Message::One(Box::new(Notice::test(now)));
            let mut results = Vec::new();
            for c in channels {
                let t = Transport::new(&c, Some(actions.clone()));
                let error = t.send(&msg, 10).await.err().map(|e| e.message);
                tracing::info!(channel = %c.name, ok = error.is_none(), "notify test");
                results.push(serde_json::json!({ "channel": c.name, "error": error }));
            }
            let _ = reply.send(Reply::Status(serde_json::json!({ "notify_test": results })));
        });
    }
}
