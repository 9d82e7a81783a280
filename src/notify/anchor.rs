//! The audit anchor (`audit_anchor:`): the journal's head, its sequence
//! number and MAC, sent to one notification channel every `every` (24h by
//! default). A same-uid agent that can read `journal.key` can re-chain the
//! journal; a head already sent to a channel it can't reach pins the history
//! up to that line (`hitl audit verify --anchor SEQ:MAC` checks it). See
//! docs/security.md.
//!
//! This module holds the config and the one send; the schedule lives in the
//! engine (`engine/anchor.rs`), which journals each attempt.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use serde_saphyr::Spanned;

use super::config::{ChannelConfig, ChannelKind, Flavor, NotifyConfig, WebhookConfig};
use super::desktop::Desktop;
use super::text::Text;
use super::{email, webhook};
use crate::config::ConfigError;
use crate::config::fields::{duration, located};
use crate::rules::Risk;

/// The anchor's period when the config names none.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnchor {
    channel: String,
    every: Option<Spanned<String>>,
}

/// The validated `audit_anchor:`: which channel, how often.
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorConfig {
    /// The name of a channel in `notify:`.
    pub channel: String,
    pub every: Duration,
}

/// Validates `audit_anchor:` against the channels in `notify:`.
pub(crate) fn validate(
    origin: &str,
    raw: Option<Spanned<RawAnchor>>,
    notify: &NotifyConfig,
) -> Result<Option<AnchorConfig>, ConfigError> {
    let Some(spanned) = raw else {
        return Ok(None);
    };
    let r = &spanned.value;
    if !notify.channels.iter().any(|c| c.name == r.channel) {
        let names: Vec<&str> = notify.channels.iter().map(|c| c.name.as_str()).collect();
        let problem = format!(
            "no channel named {:?} in notify: (channels: {})",
            r.channel,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
        return Err(located(origin, &spanned, "audit_anchor.channel", problem));
    }
    let every = duration(origin, "audit_anchor.every", &r.every, DEFAULT_EVERY)?;
    if every.is_zero() {
        return Err(located(
            origin,
            &spanned,
            "audit_anchor.every",
            "must be longer than 0s",
        ));
    }
    Ok(Some(AnchorConfig {
        channel: r.channel.clone(),
        every,
    }))
}

/// The journal's head as sent: the last line's sequence number and MAC.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub seq: u64,
    pub mac: String,
}

/// The words of an anchor message.
pub fn text(head: &Head) -> Text {
    Text {
        title: format!("hitl journal anchor: seq {}", head.seq),
        body: format!(
            "The hitl journal's head is seq {seq}, mac {mac}.\n\
             Keep this message. To check that the history up to it was not rewritten, run:\n\
             hitl audit verify --anchor {seq}:{mac}",
            seq = head.seq,
            mac = head.mac
        ),
        link: None,
        risk: Risk::Low,
        id: None,
    }
}

/// Sends the head once on `channel`; the error, without secrets, on failure.
pub async fn send_once(channel: &ChannelConfig, head: &Head) -> Result<(), String> {
    let t = text(head);
    match &channel.kind {
        ChannelKind::Email(cfg) => email::send(cfg, &t).await.map_err(|e| e.to_string()),
        ChannelKind::Webhook(cfg) => post(cfg, &t, head).await,
        ChannelKind::Desktop => Desktop::new(&channel.name, None)
            .send(&t)
            .await
            .map_err(|e| e.to_string()),
    }
}

/// The webhook request: ntfy's text form, or JSON with `seq` and `mac` as
/// fields (event `audit_anchor`) besides the words.
pub fn render(flavor: Flavor, t: &Text, head: &Head) -> webhook::Request {
    match flavor {
        Flavor::Ntfy => webhook::ntfy(t),
        Flavor::Json => webhook::Request {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: json!({
                "event": "audit_anchor",
                "title": t.title,
                "message": t.body,
                "seq": head.seq,
                "mac": head.mac,
            })
            .to_string(),
        },
    }
}

async fn post(cfg: &WebhookConfig, t: &Text, head: &Head) -> Result<(), String> {
    let r = render(cfg.flavor, t, head);
    let mut req = webhook::client()
        .post(&cfg.url)
        .timeout(Duration::from_secs(30));
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    if let Some(source) = &cfg.token {
        let token = source.read().map_err(|e| format!("token: {e}"))?;
        req = req.bearer_auth(token.expose());
    }
    let resp = req
        .body(r.body)
        .send()
        .await
        .map_err(|e| format!("POST: {}", email::error_chain(&e.without_url())))?;
    if !resp.status().is_success() {
        return Err(format!("POST: HTTP {}", resp.status().as_u16()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> Head {
        Head {
            seq: 7,
            mac: "ab".repeat(32),
        }
    }

    #[test]
    fn json_anchor_carries_seq_and_mac_as_fields() {
        let r = render(Flavor::Json, &text(&head()), &head());
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["event"], "audit_anchor");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["mac"], "ab".repeat(32));
    }

    const HOOK: &str =
        "notify:\n  - name: hook\n    kind: webhook\n    url: http://127.0.0.1:1/x\n";

    #[test]
    fn audit_anchor_every_defaults_to_a_day_and_must_be_a_duration() {
        let parse = |extra: &str| crate::config::Config::parse(&format!("{HOOK}{extra}"), "c.yaml");
        let c = parse("audit_anchor: { channel: hook }\n").unwrap();
        assert_eq!(
            c.audit_anchor,
            Some(AnchorConfig {
                channel: "hook".into(),
                every: DEFAULT_EVERY
            })
        );
        let c = parse("audit_anchor: { channel: hook, every: 1h }\n").unwrap();
        assert_eq!(c.audit_anchor.unwrap().every, Duration::from_secs(3600));
        let e = parse("audit_anchor: { channel: hook, every: often }\n").unwrap_err();
        assert!(e.to_string().contains("audit_anchor.every"), "{e}");
        let e = parse("audit_anchor: { channel: hook, every: 0s }\n").unwrap_err();
        assert!(e.to_string().contains("audit_anchor.every"), "{e}");
        let e = parse("audit_anchor: { channel: mail }\n").unwrap_err();
        assert!(e.to_string().contains("no channel named \"mail\""), "{e}");
        assert_eq!(parse("").unwrap().audit_anchor, None);
    }

    #[test]
    fn anchor_text_says_how_to_check_it() {
        let t = text(&head());
        assert!(
            t.body
                .contains(&format!("hitl audit verify --anchor 7:{}", "ab".repeat(32))),
            "{}",
            t.body
        );
    }
}
