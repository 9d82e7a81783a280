//! The `notify:` part of the config: raw serde structs, validated once into
//! [`NotifyConfig`] (same two phases as [`crate::config`]). Secrets are kept
//! as where to read them ([`SecretSource`]), never as values.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::EventKind;
use super::secret::SecretSource;
use crate::config::ConfigError;
use crate::config::fields::{duration, located};
use crate::rules::Risk;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChannel {
    name: String,
    kind: RawKind,
    smtp: Option<RawSmtp>,
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    url: Option<String>,
    flavor: Option<Flavor>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    events: Option<Vec<EventKind>>,
    min_risk: Option<Risk>,
    max_attempts: Option<u32>,
    digest_after: Option<usize>,
    digest_window: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum RawKind {
    Email,
    Webhook,
    Desktop,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    tls: Option<Tls>,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on loopback.
    None,
}

/// What a webhook POSTs.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    #[default]
    Json,
    Ntfy,
}

/// The validated notification settings.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    pub channels: Vec<ChannelConfig>,
    /// How long before a deadline the reminder goes out.
    pub reminder_before: Duration,
    /// Rules that name their own channels (`notify: [...]` on a rule), by
    /// rule name.
    pub rule_channels: std::collections::HashMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub name: String,
    pub kind: ChannelKind,
    pub events: Vec<EventKind>,
    pub min_risk: Risk,
    /// Tries per message, the first included.
    pub max_attempts: u32,
    /// Pending notices sent one by one in a window before the rest wait for
    /// the digest.
    pub digest_after: usize,
    pub digest_window: Duration,
}

impl ChannelConfig {
    /// Whether this channel wants a notice of this kind and risk: requests
    /// below `min_risk` are not told on it at all (nor their outcome).
    pub fn wants(&self, kind: EventKind, risk: Risk) -> bool {
        self.events.contains(&kind) && risk >= self.min_risk
    }

    /// Whether this channel sends `n`: when its rule names channels, only
    /// those do (for the events they take, whatever the risk); otherwise
    /// every channel that [`wants`](Self::wants) it.
    pub fn routes(&self, n: &super::Notice) -> bool {
        match &n.channels {
            Some(names) => names.contains(&self.name) && self.events.contains(&n.kind),
            None => self.wants(n.kind, n.risk),
        }
    }
}

#[derive(Debug, Clone)]
pub enum ChannelKind {
    Email(EmailConfig),
    Webhook(WebhookConfig),
    Desktop,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
    pub ca_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    pub flavor: Flavor,
    pub token: Option<SecretSource>,
}

/// Validates the raw `notify:` list and `reminder_before`.
pub(crate) fn validate(
    origin: &str,
    raw: Vec<Spanned<RawChannel>>,
    reminder_before: &Option<Spanned<String>>,
) -> Result<NotifyConfig, ConfigError> {
    let mut channels: Vec<ChannelConfig> = Vec::new();
    for (i, spanned) in raw.iter().enumerate() {
        let field = format!("notify[{i}] ({})", spanned.value.name);
        let c = channel(origin, spanned, &field)?;
        if channels.iter().any(|o| o.name == c.name) {
            return Err(located(
                origin,
                spanned,
                &field,
                "a second channel of this name",
            ));
        }
        channels.push(c);
    }
    let reminder_before = duration(
        origin,
        "reminder_before",
        reminder_before,
        Duration::from_secs(600),
    )?;
    Ok(NotifyConfig {
        channels,
        reminder_before,
        rule_channels: Default::default(),
    })
}

/// Takes each rule's `notify: [...]` (read by `get`: the rule's name and
/// its list); a channel the config doesn't have is an error naming the rule.
pub(crate) fn route_rules<T>(
    origin: &str,
    rules: &[Spanned<T>],
    get: impl Fn(&T) -> (&str, Option<&Vec<String>>),
    config: &mut NotifyConfig,
) -> Result<(), ConfigError> {
    for (i, spanned) in rules.iter().enumerate() {
        let (name, Some(list)) = get(&spanned.value) else {
            continue;
        };
        let field = format!("rules[{i}] ({name}).notify");
        for channel in list {
            if !config.channels.iter().any(|c| &c.name == channel) {
                let problem = format!("no notify channel named `{channel}`");
                return Err(located(origin, spanned, &field, problem));
            }
        }
        config.rule_channels.insert(name.to_string(), list.clone());
    }
    Ok(())
}

fn channel(
    origin: &str,
    spanned: &Spanned<RawChannel>,
    field: &str,
) -> Result<ChannelConfig, ConfigError> {
    let r = &spanned.value;
    let bad =
        |sub: &str, problem: &str| located(origin, spanned, &format!("{field}{sub}"), problem);
    if r.name.trim().is_empty() || r.name.contains(char::is_whitespace) {
        return Err(bad(".name", "must be one word"));
    }
    let kind = match r.kind {
        RawKind::Email => ChannelKind::Email(email(r, &bad)?),
        RawKind::Webhook => ChannelKind::Webhook(webhook(r, &bad)?),
        RawKind::Desktop => {
            if r.smtp.is_some() || r.url.is_some() || !r.to.is_empty() {
                return Err(bad("", "a desktop channel takes no smtp, url or to"));
            }
            ChannelKind::Desktop
        }
    };
    let max_attempts = r.max_attempts.unwrap_or(5);
    if max_attempts == 0 {
        return Err(bad(".max_attempts", "must be at least 1"));
    }
    Ok(ChannelConfig {
        name: r.name.clone(),
        kind,
        events: r.events.clone().unwrap_or_else(|| EventKind::ALL.to_vec()),
        min_risk: r.min_risk.unwrap_or(Risk::Low),
        max_attempts,
        digest_after: r.digest_after.unwrap_or(3),
        digest_window: duration(
            origin,
            &format!("{field}.digest_window"),
            &r.digest_window,
            Duration::from_secs(60),
        )?,
    })
}

fn email(
    r: &RawChannel,
    bad: &dyn Fn(&str, &str) -> ConfigError,
) -> Result<EmailConfig, ConfigError> {
    let smtp = r
        .smtp
        .as_ref()
        .ok_or_else(|| bad(".smtp", "an email channel needs smtp"))?;
    if r.url.is_some() || r.flavor.is_some() {
        return Err(bad("", "url and flavor are for webhooks"));
    }
    let tls = smtp.tls.unwrap_or_default();
    if tls == Tls::None && !is_loopback(&smtp.host) {
        return Err(bad(".smtp.tls", "`none` is only for a relay on loopback"));
    }
    let password = one_source(&smtp.password_env, &smtp.password_file)
        .map_err(|p| bad(".smtp.password_env", p))?;
    if password.is_some() && smtp.username.is_none() {
        return Err(bad(".smtp.username", "a password needs a username"));
    }
    let from = r
        .from
        .clone()
        .ok_or_else(|| bad(".from", "an email channel needs from"))?;
    check_mailbox(&from).map_err(|p| bad(".from", &p))?;
    if r.to.is_empty() {
        return Err(bad(".to", "an email channel needs at least one address"));
    }
    for (j, to) in r.to.iter().enumerate() {
        check_mailbox(to).map_err(|p| bad(&format!(".to[{j}]"), &p))?;
    }
    Ok(EmailConfig {
        host: smtp.host.clone(),
        port: smtp.port.unwrap_or(match tls {
            Tls::Starttls => 587,
            Tls::Tls => 465,
            Tls::None => 25,
        }),
        tls,
        username: smtp.username.clone(),
        password,
        ca_file: smtp.ca_file.clone(),
        from,
        to: r.to.clone(),
    })
}

fn webhook(
    r: &RawChannel,
    bad: &dyn Fn(&str, &str) -> ConfigError,
) -> Result<WebhookConfig, ConfigError> {
    let url = r
        .url
        .clone()
        .ok_or_else(|| bad(".url", "a webhook needs a url"))?;
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        Ok(_) => return Err(bad(".url", "must be http or https")),
        Err(e) => return Err(bad(".url", &e.to_string())),
    }
    if r.smtp.is_some() || !r.to.is_empty() {
        return Err(bad("", "smtp and to are for email channels"));
    }
    let token = one_source(&r.token_env, &r.token_file).map_err(|p| bad(".token_env", p))?;
    Ok(WebhookConfig {
        url,
        flavor: r.flavor.unwrap_or_default(),
        token,
    })
}

fn one_source(
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<SecretSource>, &'static str> {
    match (env, file) {
        (Some(_), Some(_)) => Err("give the secret's _env or its _file, not both"),
        (Some(e), None) => Ok(Some(SecretSource::Env(e.clone()))),
        (None, Some(f)) => Ok(Some(SecretSource::File(f.clone()))),
        (None, None) => Ok(None),
    }
}

fn check_mailbox(text: &str) -> Result<(), String> {
    text.parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|e| format!("`{text}` is not an address: {e}"))
}

/// `localhost` or a loopback IP.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const MAIL: &str = "notify:\n  - name: mail\n    kind: email\n    smtp: { host: smtp.example.com, username: me, password_env: HITL_TEST_PW }\n    from: hitl@example.com\n    to: [me@example.com]\n    min_risk: medium\n  - name: phone\n    kind: webhook\n    url: https://ntfy.example.com/t\n    flavor: ntfy\n    events: [pending, decided]\n  - name: desk\n    kind: desktop\nreminder_before: 5m\n";

    #[test]
    fn notify_channels_parse_into_typed_config() {
        let c = Config::parse(MAIL, "c.yaml").unwrap();
        let n = &c.notify;
        assert_eq!(n.channels.len(), 3);
        assert_eq!(n.reminder_before.as_secs(), 300);
        let super::ChannelKind::Email(e) = &n.channels[0].kind else {
            panic!()
        };
        assert_eq!((e.port, e.tls), (587, super::Tls::Starttls));
        assert!(!n.channels[0].wants(super::EventKind::Pending, crate::rules::Risk::Low));
        assert!(n.channels[0].wants(super::EventKind::Pending, crate::rules::Risk::High));
        assert!(!n.channels[0].wants(super::EventKind::Decided, crate::rules::Risk::Low));
        assert!(!n.channels[1].wants(super::EventKind::Result, crate::rules::Risk::High));
    }

    #[test]
    fn notify_config_errors_name_position_and_field() {
        let bad = MAIL.replace("smtp.example.com,", "smtp.example.com, tls: none,");
        let e = Config::parse(&bad, "c.yaml").unwrap_err().to_string();
        assert!(e.starts_with("c.yaml:2:"), "{e}");
        assert!(e.contains("notify[0] (mail).smtp.tls"), "{e}");
        let bad = MAIL.replace(
            "password_env: HITL_TEST_PW",
            "password_env: A, password_file: /x",
        );
        let e = Config::parse(&bad, "c.yaml").unwrap_err().to_string();
        assert!(e.contains("not both"), "{e}");
        let bad = MAIL.replace("flavor: ntfy", "flavor: slack");
        let e = Config::parse(&bad, "c.yaml").unwrap_err().to_string();
        assert!(e.starts_with("c.yaml:"), "{e}");
        let bad = MAIL.replace("name: desk", "name: phone");
        let e = Config::parse(&bad, "c.yaml").unwrap_err().to_string();
        assert!(e.contains("second channel"), "{e}");
    }

    #[test]
    fn tls_none_is_allowed_on_loopback_only() {
        assert!(super::is_loopback("127.0.0.1") && super::is_loopback("::1"));
        assert!(super::is_loopback("localhost") && !super::is_loopback("10.0.0.1"));
    }
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod routing_tests;
