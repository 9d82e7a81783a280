//! Webhooks: a JSON POST, or ntfy's headers-and-text form (title, priority
//! from risk, tags, a `view` action opening the note). Rendering is pure
//! ([`Request`]); [`send`] posts it with reqwest over rustls.

use std::time::Duration;

use serde_json::json;

use super::Notice;
use super::config::{Flavor, WebhookConfig};
use super::secret::SecretError;
use super::text::{self, Text};
use crate::rules::Risk;

/// A webhook body carries the payload up to this many characters.
pub const PAYLOAD_LIMIT: usize = 1000;
/// ntfy refuses messages over 4096 bytes (it would make them attachments).
pub const NTFY_BODY_BYTES: usize = 4000;

/// What to POST.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("token: {0}")]
    Secret(#[from] SecretError),
    #[error("POST {url}: {error}")]
    Send { url: String, error: String },
    #[error("POST {url}: HTTP {status}")]
    Status { url: String, status: u16 },
}

/// The request for one notice or a digest (`notice` is `None`).
pub fn render(flavor: Flavor, text: &Text, notice: Option<&Notice>) -> Request {
    match flavor {
        Flavor::Ntfy => ntfy(text),
        Flavor::Json => json_body(text, notice),
    }
}

/// ntfy: the text as the body, the rest as headers.
pub fn ntfy(t: &Text) -> Request {
    let (priority, tag) = match t.risk {
        Risk::Low => ("3", "information_source"),
        Risk::Medium => ("4", "warning"),
        Risk::High => ("5", "rotating_light"),
    };
    let mut headers = vec![
        ("Title".to_string(), header_text(&t.title)),
        ("Priority".to_string(), priority.to_string()),
        ("Tags".to_string(), format!("hitl,{tag}")),
    ];
    if let Some(link) = &t.link {
        headers.push((
            "Actions".into(),
            format!("view, Open note, {link}, clear=true"),
        ));
    }
    let mut body = t.body.clone();
    while body.len() > NTFY_BODY_BYTES {
        body.pop();
    }
    Request { headers, body }
}

/// A header value: ASCII as is, anything else as RFC 2047 (ntfy decodes it).
/// Text that holds `=?` is encoded too: ntfy would decode an encoded word a
/// summary smuggled in as ASCII, showing what the daemon never checked.
fn header_text(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) && !s.contains("=?") {
        s.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", base64(s.as_bytes()))
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// JSON: the request's fields and the rendered text.
pub fn json_body(t: &Text, n: Option<&Notice>) -> Request {
    let mut v = json!({ "title": t.title, "message": t.body, "risk": t.risk, "link": t.link });
    if let Some(n) = n {
        v["event"] = json!(n.kind);
        v["request"] = json!({
            "id": n.id, "action": n.action, "summary": n.summary, "signals": n.signals,
            "payload": text::payload(&n.payload, PAYLOAD_LIMIT),
            "deadline": n.deadline.to_string(), "rule": n.rule, "outcome": n.outcome,
            "approve": format!("hitl approve {}", n.id), "reject": format!("hitl reject {}", n.id),
        });
    } else {
        v["event"] = json!("digest");
    }
    Request {
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: v.to_string(),
    }
}

/// Renders with the clock and sends.
pub async fn send(
    client: &reqwest::Client,
    cfg: &WebhookConfig,
    text: &Text,
    notice: Option<&Notice>,
) -> Result<(), WebhookError> {
    let r = render(cfg.flavor, text, notice);
    let mut req = client.post(&cfg.url).timeout(Duration::from_secs(30));
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    if let Some(source) = &cfg.token {
        req = req.bearer_auth(source.read()?.expose());
    }
    let url = redacted(&cfg.url);
    let resp = req
        .body(r.body)
        .send()
        .await
        .map_err(|e| WebhookError::Send {
            url: url.clone(),
            error: super::email::error_chain(&e.without_url()),
        })?;
    if !resp.status().is_success() {
        return Err(WebhookError::Status {
            url,
            status: resp.status().as_u16(),
        });
    }
    Ok(())
}

/// POSTs `body` as JSON to `url` once (a requester's `--notify` URL).
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> Result<(), super::delivery::SendError> {
    let shown = redacted(url);
    let fail = |message: String, retryable: bool| super::delivery::SendError { message, retryable };
    let resp = client
        .post(url)
        .timeout(Duration::from_secs(30))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            let error = super::email::error_chain(&e.without_url());
            fail(format!("POST {shown}: {error}"), true)
        })?;
    let status = resp.status();
    if !status.is_success() {
        let message = format!("POST {shown}: HTTP {}", status.as_u16());
        return Err(fail(
            message,
            status.is_server_error() || status.as_u16() == 429,
        ));
    }
    Ok(())
}

/// Whether `url` may be a requester's `--notify` URL: http or https.
pub fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(format!("`{}` is not an http or https URL", redacted(url))),
        Err(e) => Err(format!("not a URL: {e}")),
    }
}

/// The URL without userinfo or query (either may hold a token).
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "(url)".into(),
    }
}

/// The client every webhook shares: rustls, no proxy from the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default()
}

/// The client for requesters' `--notify` URLs: as [`client`], and no
/// redirect is followed (the outcome goes to the URL given, not wherever
/// that server points: another host, a local service, or back to itself).
pub fn requester_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_ntfy_message_for_a_pending_request() {
        let (n, clock) = text::fixed();
        let r = ntfy(&text::notice(&n, &clock, PAYLOAD_LIMIT));
        let headers: Vec<String> = r.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        insta::assert_snapshot!(format!("{}\n\n{}", headers.join("\n"), r.body));
    }

    #[test]
    fn non_ascii_titles_are_rfc2047() {
        assert_eq!(header_text("Zahlung €"), "=?UTF-8?B?WmFobHVuZyDigqw=?=");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn an_encoded_word_smuggled_in_a_title_is_encoded_not_passed_for_ntfy_to_decode() {
        assert_eq!(
            header_text("=?UTF-8?B?4oCu?="),
            "=?UTF-8?B?PT9VVEYtOD9CPzRvQ3U/PQ==?="
        );
    }

    #[test]
    fn webhook_errors_do_not_show_url_secrets() {
        assert_eq!(
            redacted("https://u:s3cret@h.example/p?token=s3cret"),
            "https://h.example/p"
        );
    }
}
