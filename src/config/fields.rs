//! How single config fields are read: durations (as people type them),
//! a handler's argv, and positions (`file:line:column`, once).

use std::time::Duration;

use serde_saphyr::Spanned;

use super::ConfigError;

/// The parser's message without the position it may end in (` at line 2,
/// column 19`): the error names the position once, as `file:line:column`.
pub(super) fn without_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => &message[..i],
        _ => message,
    }
}

pub(crate) fn duration(
    origin: &str,
    field: &str,
    v: &Option<Spanned<String>>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) => parse_duration(&s.value).map_err(|problem| ConfigError::Yaml {
            origin: origin.to_string(),
            line: s.referenced.line(),
            column: s.referenced.column(),
            message: format!("{field}: {problem}"),
        }),
    }
}

/// A handler's `command`: a list (argv). A string is refused with the fix.
pub(super) fn argv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Argv;
    impl<'de> serde::de::Visitor<'de> for Argv {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list (argv)")
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(E::custom(
                "command must be a list (argv), e.g. [/usr/local/bin/pay, --live]",
            ))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(x) = a.next_element::<String>()? {
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_any(Argv)
}

/// An error in a part of the file: its position, once, and the field.
pub(crate) fn located<T>(
    origin: &str,
    at: &Spanned<T>,
    field: &str,
    problem: impl std::fmt::Display,
) -> ConfigError {
    ConfigError::Yaml {
        origin: origin.to_string(),
        line: at.referenced.line(),
        column: at.referenced.column(),
        message: format!("{field}: {problem}"),
    }
}

/// Parses what people type: `500ms`, `90s`, `10m`, `1h30m`, `2d`,
/// `24 hours`, `2 days`, `1 week` (jiff's friendly format, days and weeks
/// of 24 hours), ISO 8601 (`PT1H`), or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration (try 90s, 10m, 1h30m, 2 days)".into());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let bad = || format!("`{text}` is not a duration (try 90s, 10m, 1h30m, 2 days)");
    let span: jiff::Span = s.parse().map_err(|_| bad())?;
    let signed = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| format!("`{text}`: months and years have no fixed length; use days"))?;
    Duration::try_from(signed).map_err(|_| format!("`{text}` is negative"))
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("24 hours"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("2 days"), Ok(Duration::from_secs(2 * 86400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("3 fortnights").is_err());
        assert!(parse_duration("1 month").unwrap_err().contains("use days"));
    }

    #[test]
    fn config_errors_name_the_position_once() {
        let e = Config::parse(
            "handlers:\n  pay: { command: \"/bin/pay --live\" }\n",
            "c.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("c.yaml:2:"), "{e}");
        assert!(
            e.contains("command must be a list (argv), e.g. [/usr/local/bin/pay, --live]"),
            "{e}"
        );
        assert_eq!(e.matches("line").count(), 0, "{e}");
    }

    #[test]
    fn duration_errors_name_the_field_and_its_position() {
        let e = Config::parse("default: require\ntimeout: 3 fortnights\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.yaml:2:"), "{e}");
        assert!(
            e.contains("timeout: `3 fortnights` is not a duration"),
            "{e}"
        );
        let e = Config::parse(
            "handlers:\n  pay: { command: [/bin/true], timeout: soon }\n",
            "c",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("c:2:") && e.contains("handlers.pay.timeout"),
            "{e}"
        );
    }
}
