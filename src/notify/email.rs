//! Email: the message (pure, from a [`Text`]) and its delivery over SMTP
//! with lettre on tokio and rustls: STARTTLS (required), implicit TLS, or
//! none for a loopback relay; a private CA from `ca_file`; login auth.

use std::time::Duration;

use lettre::message::Body;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls as Wrap, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::config::{EmailConfig, Tls};
use super::secret::SecretError;
use super::text::Text;

/// An email carries the payload up to this many characters.
pub const PAYLOAD_LIMIT: usize = 4000;

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("address: {0}")]
    Address(String),
    #[error("message: {0}")]
    Build(String),
    #[error("password: {0}")]
    Secret(#[from] SecretError),
    #[error("ca_file {}: {}", .0.display(), .1)]
    CaFile(std::path::PathBuf, String),
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("SMTP {host}:{port}: {error}")]
    Smtp {
        host: String,
        port: u16,
        error: String,
    },
}

/// The message: From, To, Subject, Date, a fresh Message-ID, plain text.
pub fn message(text: &Text, cfg: &EmailConfig) -> Result<Message, EmailError> {
    let addr = |s: &str| {
        s.parse::<Mailbox>()
            .map_err(|e| EmailError::Address(format!("`{s}`: {e}")))
    };
    let from = addr(&cfg.from)?;
    let domain = from.email.domain().to_string();
    let mut b = Message::builder()
        .from(from)
        .subject(text.title.clone())
        .date_now()
        .message_id(Some(format!("<{}@{domain}>", random_hex())))
        .header(ContentType::TEXT_PLAIN);
    for to in &cfg.to {
        b = b.to(addr(to)?);
    }
    // Quoted-printable: readable in any client's "show source", 8-bit safe.
    let body = Body::new_with_encoding(text.body.clone(), ContentTransferEncoding::QuotedPrintable)
        .map_err(|_| EmailError::Build("body cannot be quoted-printable".into()))?;
    b.body(body).map_err(|e| EmailError::Build(e.to_string()))
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    // A clock-based id is still unique enough if the OS has no randomness.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = jiff::Timestamp::now().as_nanosecond();
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SMTP transport for a channel; reads the password now.
pub fn transport(cfg: &EmailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
        .port(cfg.port)
        .timeout(Some(Duration::from_secs(30)));
    if cfg.tls != Tls::None {
        let params = tls_parameters(cfg)?;
        b = b.tls(match cfg.tls {
            Tls::Tls => Wrap::Wrapper(params),
            _ => Wrap::Required(params),
        });
    }
    if let (Some(user), Some(source)) = (&cfg.username, &cfg.password) {
        let password = source.read()?;
        b = b
            .credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(b.build())
}

fn tls_parameters(cfg: &EmailConfig) -> Result<TlsParameters, EmailError> {
    let mut p = TlsParameters::builder(cfg.host.clone());
    if let Some(path) = &cfg.ca_file {
        let pem =
            std::fs::read(path).map_err(|e| EmailError::CaFile(path.clone(), e.to_string()))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| EmailError::CaFile(path.clone(), e.to_string()))?;
        p = p.add_root_certificate(cert);
    }
    p.build_rustls().map_err(|e| EmailError::Tls(e.to_string()))
}

/// Sends one message.
pub async fn send(cfg: &EmailConfig, text: &Text) -> Result<(), EmailError> {
    let message = message(text, cfg)?;
    let transport = transport(cfg)?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| EmailError::Smtp {
            host: cfg.host.clone(),
            port: cfg.port,
            error: error_chain(&e),
        })
}

/// An error and its sources in one line (TLS and DNS causes are nested).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let more = c.to_string();
        if !s.contains(&more) {
            s.push_str(": ");
            s.push_str(&more);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::text;

    #[test]
    fn golden_email_for_a_pending_request() {
        let (n, clock) = text::fixed();
        let cfg = EmailConfig {
            host: "smtp.example.com".into(),
            port: 587,
            tls: Tls::Starttls,
            username: None,
            password: None,
            ca_file: None,
            from: "hitl <hitl@example.com>".into(),
            to: vec!["me@example.com".into()],
        };
        let m = message(&text::notice(&n, &clock, PAYLOAD_LIMIT), &cfg).unwrap();
        let raw = String::from_utf8(m.formatted())
            .unwrap()
            .replace("\r\n", "\n");
        let date = regex::Regex::new(r"(?m)^Date: .*$").unwrap();
        let id = regex::Regex::new(r"(?m)^Message-ID: <[0-9a-f]{32}@example.com>$").unwrap();
        assert!(date.is_match(&raw) && id.is_match(&raw), "{raw}");
        let raw = date.replace(&raw, "Date: [date]");
        let raw = id.replace(&raw, "Message-ID: [id]");
        insta::assert_snapshot!(raw);
    }
}
