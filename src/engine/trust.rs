//! The engine's side of trust: who may submit or approve by CLI (checked
//! at the edge, where the caller's uid is known), and sending a request's
//! approval codes after its submission is journaled.

use std::collections::HashSet;

use super::Engine;
use crate::ipc::Caller;
use crate::journal::Record;
use crate::machine::{Effect, Refusal};
use crate::notify::code::CodeMessage;
use crate::notify::delivery::Outcome;
use crate::request::{EventKind, Id, Status};
use crate::trust::{access, code};

impl Engine {
    pub(super) fn may_submit(&self, caller: &Caller) -> Result<(), Refusal> {
        let access = &self.machine.config().access;
        access::may_submit(access, caller.uid, &caller.name).map_err(|e| {
            tracing::warn!(uid = caller.uid, user = %caller.name, "submission refused: {e}");
            Refusal::Denied(e)
        })
    }

    pub(super) fn may_approve(&self, caller: &Caller, id: &str) -> Result<(), Refusal> {
        let access = &self.machine.config().access;
        let requested_by = self
            .machine
            .get(id)
            .map(|r| r.sub.requested_by.as_str())
            .unwrap_or_default();
        access::may_approve(access, caller.uid, &caller.name, requested_by).map_err(|e| {
            tracing::warn!(request = %id, uid = caller.uid, user = %caller.name, "approval refused: {e}");
            Refusal::Denied(e)
        })
    }
}

impl Engine {
    /// Derives a new request's codes and sends each on its channels, in a
    /// task of its own; each delivery's outcome is journaled (never the
    /// code), so a restart knows which codes still have to go.
    pub(super) fn send_codes(&self, id: &str, codes: Vec<(Option<String>, Vec<String>)>) {
        let (Some(keys), Some(req)) = (self.machine.keys(), self.machine.get(id)) else {
            return;
        };
        let config = self.machine.config();
        let mut sends = Vec::new();
        for (approver, channels) in codes {
            let message = CodeMessage {
                id: id.to_string(),
                action: req.sub.action.clone(),
                summary: req.sub.summary.clone(),
                code: code::derive(
                    &keys.codes,
                    id,
                    &req.sub.payload_sha256,
                    approver.as_deref(),
                ),
                approver,
                expires: req.sub.expires,
                risk: req.sub.risk,
            };
            for name in channels {
                match config.notify.channels.iter().find(|c| c.name == name) {
                    Some(c) => sends.push((c.clone(), message.clone())),
                    None => {
                        tracing::error!(request = %id, channel = %name, "no such channel for an approval code")
                    }
                }
            }
        }
        let outcomes = self.notices.outcome_sender();
        tokio::spawn(async move {
            for (channel, message) in sends {
                let (attempts, result) = crate::notify::code::send(&channel, &message).await;
                let approver = message.approver.as_deref().unwrap_or("-");
                match &result {
                    Ok(()) => {
                        tracing::info!(request = %message.id, channel = %channel.name, approver, "approval code sent")
                    }
                    Err(error) => {
                        tracing::error!(request = %message.id, channel = %channel.name, approver, %error, "approval code not sent")
                    }
                }
                let outcome = Outcome {
                    channel: channel.name.clone(),
                    ids: vec![message.id.clone()],
                    kind: None,
                    event: code_event(message.approver.as_deref()),
                    attempts,
                    // The code never goes into the journal, even quoted.
                    error: result.err().map(|e| e.replace(&message.code, "[code]")),
                };
                let _ = outcomes.send(outcome).await;
            }
        });
    }

    /// At start: the codes of pending requests that were not journaled as
    /// delivered (the daemon stopped before, or a channel failed) are sent
    /// again. Codes are derived, so they are the same ones.
    pub(super) fn resend_codes(&mut self, records: &[Record]) {
        let delivered: HashSet<(&str, &str, &str)> = records
            .iter()
            .filter_map(|r| match &r.event.kind {
                EventKind::Notified { channel, event, .. } => {
                    Some((r.event.request.as_str(), event.as_str(), channel.as_str()))
                }
                _ => None,
            })
            .collect();
        let pending: Vec<Id> = self
            .machine
            .requests()
            .values()
            .filter(|r| r.status == Status::Pending)
            .map(|r| r.id.clone())
            .collect();
        for id in pending {
            let Some(Effect::SendCodes { codes, .. }) = self.machine.codes_to_send(&id) else {
                continue;
            };
            let owed: Vec<(Option<String>, Vec<String>)> = codes
                .into_iter()
                .map(|(approver, channels)| {
                    let event = code_event(approver.as_deref());
                    let left = channels
                        .into_iter()
                        .filter(|c| !delivered.contains(&(id.as_str(), event.as_str(), c.as_str())))
                        .collect();
                    (approver, left)
                })
                .filter(|(_, channels): &(_, Vec<String>)| !channels.is_empty())
                .collect();
            if !owed.is_empty() {
                tracing::info!(request = %id, codes = owed.len(), "approval codes not journaled as delivered; sending them again");
                self.send_codes(&id, owed);
            }
        }
    }
}

/// How a code's delivery is journaled: `code`, or `code for <approver>`.
fn code_event(approver: Option<&str>) -> String {
    match approver {
        None => "code".into(),
        Some(a) => format!("code for {a}"),
    }
}

/// Binds the CLI's socket: in the state folder, or, with a `socket_group`,
/// beside it, shared with that group (`ipc::shared`). A stale socket of
/// ours is removed first (we hold the state lock).
pub(super) fn bind_socket(
    state: &std::path::Path,
    group: Option<&str>,
) -> Result<(tokio::net::UnixListener, std::path::PathBuf), super::DaemonError> {
    use crate::ipc::{self, shared};
    let io = |what: String| move |error| super::DaemonError::Io { what, error };
    let private = ipc::socket_path(state);
    let _ = std::fs::remove_file(&private);
    let _ = std::fs::remove_file(shared::socket_path(state));
    let sock = match group {
        None => private,
        Some(g) => {
            let gid = shared::group_id(g).map_err(io(format!("socket_group {g}")))?;
            shared::prepare(state, gid).map_err(io(format!("socket folder for group {g}")))?
        }
    };
    let listener =
        tokio::net::UnixListener::bind(&sock).map_err(io(format!("socket {}", sock.display())))?;
    if let Some(g) = group {
        let gid = shared::group_id(g).map_err(io(format!("socket_group {g}")))?;
        shared::share(&sock, gid).map_err(io(format!("socket {}", sock.display())))?;
        tracing::info!(socket = %sock.display(), group = g, "the socket is shared with a group");
    }
    Ok((listener, sock))
}
