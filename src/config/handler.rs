//! A handler as the config names it: the program and arguments an
//! approved action runs, its timeout, its environment (which may hold
//! secrets, so `Debug` never shows the values) and whether it may run again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::ConfigError;
use super::fields::{argv, duration, located};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHandler {
    #[serde(deserialize_with = "argv")]
    command: Vec<String>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    idempotent: bool,
}

#[derive(Clone)]
pub struct Handler {
    pub command: Vec<String>,
    pub timeout: Duration,
    /// May hold secrets: `Debug` shows only the names.
    pub env: BTreeMap<String, String>,
    pub idempotent: bool,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("command", &self.command)
            .field("timeout", &self.timeout)
            .field("env", &HiddenValues(&self.env))
            .field("idempotent", &self.idempotent)
            .finish()
    }
}

/// Environment variables as `Debug` may show them: names, never values.
pub struct HiddenValues<'a>(pub &'a BTreeMap<String, String>);

impl std::fmt::Debug for HiddenValues<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, format_args!("<hidden>"))))
            .finish()
    }
}

pub(super) fn handlers(
    origin: &str,
    raw: BTreeMap<String, Spanned<RawHandler>>,
) -> Result<BTreeMap<String, Handler>, ConfigError> {
    raw.into_iter()
        .map(|(action, spanned)| {
            let field = format!("handlers.{action}");
            if spanned.value.command.first().is_none_or(String::is_empty) {
                let field = format!("{field}.command");
                return Err(located(
                    origin,
                    &spanned,
                    &field,
                    "needs at least the program",
                ));
            }
            let h = spanned.value;
            let timeout = duration(
                origin,
                &format!("{field}.timeout"),
                &h.timeout,
                Duration::from_secs(30),
            )?;
            let handler = Handler {
                command: h.command,
                timeout,
                env: h.env,
                idempotent: h.idempotent,
            };
            Ok((action, handler))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn debug_of_handlers_hides_env_values() {
        let c = Config::parse(
            "handlers:\n  payment: { command: [/bin/pay], env: { PAY_TOKEN: sk_live_secret } }\n",
            "test",
        )
        .unwrap();
        for shown in [format!("{:?}", c.handlers["payment"]), format!("{c:?}")] {
            assert!(shown.contains("PAY_TOKEN"), "{shown}");
            assert!(!shown.contains("sk_live_secret"), "{shown}");
        }
    }
}
