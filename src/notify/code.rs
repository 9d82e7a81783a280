//! Sending an approval code: straight to the channels a rule (or an
//! approver) names, never through the notice queue, its digest or its
//! outcomes, so the code is in no log, journal line or vault file. A
//! webhook gets `{"event": "code", ...}` (ntfy: the text), an email or a
//! desktop notification the same words.

use std::time::Duration;

use serde_json::json;

use super::config::{ChannelConfig, ChannelKind, Flavor, WebhookConfig};
use super::desktop::Desktop;
use super::text::Text;
use super::{email, webhook};
use crate::rules::Risk;

/// One code for one person about one request.
#[derive(Clone, PartialEq)]
pub struct CodeMessage {
    pub id: String,
    pub action: String,
    pub summary: String,
    pub code: String,
    /// The approver it is for; `None`: the request's own code.
    pub approver: Option<String>,
    pub expires: jiff::Timestamp,
    pub risk: Risk,
}

impl std::fmt::Debug for CodeMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeMessage")
            .field("id", &self.id)
            .field("approver", &self.approver)
            .finish_non_exhaustive()
    }
}

impl CodeMessage {
    fn text(&self) -> Text {
        let whose = self
            .approver
            .as_ref()
            .map(|a| format!(" (for {a})"))
            .unwrap_or_default();
        Text {
            title: format!("Approval code for {}: {}", self.action, self.code),
            body: format!(
                "To approve \"{}\" (request {}), put {} in the note's `code` property and tick Approve, or run `hitl approve {} --code {}`{whose}. Valid until {}. Don't share it: whoever has it can approve.",
                self.summary, self.id, self.code, self.id, self.code, self.expires
            ),
            link: None,
            risk: self.risk,
            id: None,
        }
    }
}

/// Sends `m` on `channel`, up to three tries; how many it took, and the
/// last error if none went through.
pub async fn send(channel: &ChannelConfig, m: &CodeMessage) -> (u32, Result<(), String>) {
    let mut last = String::new();
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
        }
        match send_once(channel, m).await {
            Ok(()) => return (attempt + 1, Ok(())),
            Err(e) => last = e,
        }
    }
    (3, Err(last))
}

async fn send_once(channel: &ChannelConfig, m: &CodeMessage) -> Result<(), String> {
    let text = m.text();
    match &channel.kind {
        ChannelKind::Email(cfg) => email::send(cfg, &text).await.map_err(|e| e.to_string()),
        ChannelKind::Desktop => Desktop::new(&channel.name, None)
            .send(&text)
            .await
            .map_err(|e| e.to_string()),
        ChannelKind::Webhook(cfg) => post(cfg, m, &text).await,
    }
}

async fn post(cfg: &WebhookConfig, m: &CodeMessage, text: &Text) -> Result<(), String> {
    let request = match cfg.flavor {
        Flavor::Ntfy => webhook::ntfy(text),
        Flavor::Json => webhook::Request {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: json!({
                "event": "code", "title": text.title, "message": text.body,
                "request": { "id": m.id, "action": m.action },
                "approver": m.approver, "code": m.code,
            })
            .to_string(),
        },
    };
    let mut req = webhook::client()
        .post(&cfg.url)
        .timeout(Duration::from_secs(30));
    for (k, v) in &request.headers {
        req = req.header(k, v);
    }
    if let Some(source) = &cfg.token {
        let token = source.read().map_err(|e| e.to_string())?;
        req = req.bearer_auth(token.expose());
    }
    let resp = req
        .body(request.body)
        .send()
        .await
        .map_err(|e| email::error_chain(&e.without_url()))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status().as_u16()))
    }
}
