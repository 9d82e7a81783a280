//! Notifications: tell the person on the channels they chose (email,
//! desktop, webhook/ntfy) that a request waits, is about to expire, was
//! decided, or ran. DESIGN.md, "Notifications", is the contract.
//!
//! - [`config`]: the `notify:` channels, validated once; [`secret`]: where
//!   passwords and tokens are read from, never shown.
//! - [`text`]: the words of a message from a [`Notice`] (pure, clock given);
//!   [`email`], [`webhook`], [`desktop`]: one renderer and one sender each.
//! - [`delivery`]: the task fed by a bounded queue, per-channel retries with
//!   backoff and the storm digest; every delivery and final failure comes
//!   back as a [`delivery::Outcome`] for the engine to journal.

pub mod code;
pub mod config;
pub mod delivery;
pub mod desktop;
pub mod email;
pub mod secret;
pub mod text;
pub mod uri;
pub mod webhook;

use serde::{Deserialize, Serialize};

use crate::rules::Risk;

pub use config::{ChannelConfig, ChannelKind, NotifyConfig};

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A new request waits for a decision.
    Pending,
    /// A pending request's deadline is near.
    Reminder,
    /// Approved, rejected, expired, cancelled or tampered.
    Decided,
    /// The handler ran: executed, failed or unknown.
    Result,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::Pending,
        EventKind::Reminder,
        EventKind::Decided,
        EventKind::Result,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Pending => "pending",
            EventKind::Reminder => "reminder",
            EventKind::Decided => "decided",
            EventKind::Result => "result",
        }
    }
}

/// One thing to tell: the event and the request it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub kind: EventKind,
    pub id: String,
    pub action: String,
    pub summary: String,
    pub risk: Risk,
    /// What the risk signals said.
    pub signals: Vec<String>,
    pub payload: serde_json::Value,
    pub deadline: jiff::Timestamp,
    /// The rule that decided the request needs a person.
    pub rule: String,
    /// The vault's name, as Obsidian knows it (its folder's name).
    pub vault: String,
    /// The note's path inside the vault, e.g. `Pending_Approval/x.md`.
    pub note: String,
    /// For `decided`/`result`: how it ended, who and why, in a line.
    pub outcome: Option<String>,
    /// For an approval held in an undo window (a rule's `grace:`): when it
    /// runs unless rejected or cancelled before.
    pub runs_at: Option<jiff::Timestamp>,
    /// The channels the deciding rule names (`notify: [...]` on a rule):
    /// these instead of every channel; `None`: every channel that wants it.
    pub channels: Option<Vec<String>>,
}

impl Notice {
    /// A notice that says only that the channel works (`hitl notify test`).
    pub fn test(now: jiff::Timestamp) -> Notice {
        Notice {
            kind: EventKind::Pending,
            id: "test".into(),
            action: "hitl.test".into(),
            summary: "A test notification from hitl".into(),
            risk: Risk::Low,
            signals: vec![],
            payload: serde_json::json!({ "test": true }),
            deadline: now + jiff::SignedDuration::from_mins(10),
            rule: "none (test)".into(),
            vault: "vault".into(),
            note: "test.md".into(),
            outcome: None,
            runs_at: None,
            channels: None,
        }
    }
}
