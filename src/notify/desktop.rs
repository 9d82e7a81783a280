//! Desktop: a freedesktop notification over the D-Bus session bus
//! (notify-rust), with Approve/Reject buttons when the server supports
//! actions. A click comes back as a [`DesktopAction`] on a channel; the
//! engine turns it into a decision. No session bus: logged once, not an error
//! that is retried.

use std::sync::atomic::{AtomicBool, Ordering};

use notify_rust::{Hint, Notification, Timeout, Urgency};
use tokio::sync::mpsc;

use super::text::Text;
use crate::rules::Risk;

/// A desktop notification carries the payload up to this many characters.
pub const PAYLOAD_LIMIT: usize = 300;

/// What the person clicked on a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesktopAction {
    pub channel: String,
    pub id: String,
    pub decision: Decision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    #[error("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS unset, no $XDG_RUNTIME_DIR/bus)")]
    NoSessionBus,
    #[error("D-Bus: {0}")]
    Bus(String),
}

impl DesktopError {
    /// Whether trying again may help.
    pub fn retryable(&self) -> bool {
        !matches!(self, DesktopError::NoSessionBus)
    }
}

/// One desktop channel: its name, where clicks go, and whether the missing
/// bus was already logged.
pub struct Desktop {
    pub name: String,
    actions: Option<mpsc::UnboundedSender<DesktopAction>>,
    warned: AtomicBool,
}

impl Desktop {
    pub fn new(name: &str, actions: Option<mpsc::UnboundedSender<DesktopAction>>) -> Desktop {
        Desktop {
            name: name.to_string(),
            actions,
            warned: AtomicBool::new(false),
        }
    }

    /// Shows the notification (on a blocking thread: notify-rust's calls
    /// block). Approve/Reject are offered when the server has `actions`.
    pub async fn send(&self, text: &Text) -> Result<(), DesktopError> {
        if !session_bus_present() {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(channel = %self.name, "no D-Bus session bus: desktop notifications are off");
            }
            return Err(DesktopError::NoSessionBus);
        }
        let text = text.clone();
        let actions = self.actions.clone();
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || show(&name, &text, actions))
            .await
            .map_err(|e| DesktopError::Bus(e.to_string()))?
    }
}

fn session_bus_present() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|d| std::path::Path::new(&d).join("bus").exists())
}

/// `s` as text in a freedesktop body, which servers with `body-markup`
/// read as a subset of HTML: `&`, `<` and `>` become entities, so a summary
/// can draw no `<a href>` link, `<img>` or bold "approved" of its own.
pub fn markup_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn show(
    channel: &str,
    text: &Text,
    actions: Option<mpsc::UnboundedSender<DesktopAction>>,
) -> Result<(), DesktopError> {
    let bus = |e: notify_rust::error::Error| DesktopError::Bus(e.to_string());
    let with_actions = text.id.is_some()
        && notify_rust::get_capabilities()
            .map_err(bus)?
            .iter()
            .any(|c| c == "actions");
    let mut n = Notification::new();
    n.appname("hitl")
        .summary(&text.title)
        .body(&markup_escaped(&text.body))
        .urgency(match text.risk {
            Risk::High => Urgency::Critical,
            Risk::Medium => Urgency::Normal,
            Risk::Low => Urgency::Low,
        })
        .timeout(Timeout::Never)
        .hint(Hint::Category("im.received".into()));
    if with_actions {
        n.action("approve", "Approve").action("reject", "Reject");
    }
    let handle = n.show().map_err(bus)?;
    if let (true, Some(tx), Some(id)) = (with_actions, actions, text.id.clone()) {
        let channel = channel.to_string();
        // Waiting for the click blocks until the notification closes.
        std::thread::spawn(move || {
            handle.wait_for_action(|action| {
                let decision = match action {
                    "approve" => Decision::Approve,
                    "reject" => Decision::Reject,
                    _ => return,
                };
                tracing::info!(%channel, request = %id, ?decision, "desktop action");
                let _ = tx.send(DesktopAction {
                    channel,
                    id,
                    decision,
                });
            });
        });
    }
    Ok(())
}
