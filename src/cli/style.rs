//! How the command line looks on a terminal: colour (only on a terminal,
//! `NO_COLOR` respected, through anstream as clap does), times in the
//! user's zone, ages and plurals.

use std::sync::OnceLock;

use anstyle::{AnsiColor, Style};
use jiff::{Timestamp, tz::TimeZone};

static UTC: OnceLock<bool> = OnceLock::new();

/// Times on the command line are UTC from now on (`--utc`).
pub fn use_utc(utc: bool) {
    let _ = UTC.set(utc);
}

/// Whether times are shown in UTC (`--utc`).
pub fn utc() -> bool {
    UTC.get().copied().unwrap_or(false)
}

/// A time for people: local (like the notes) unless `--utc`.
pub fn time(t: Timestamp) -> String {
    if UTC.get().copied().unwrap_or(false) {
        return t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    }
    t.to_zoned_datetime(TimeZone::system())
        .strftime("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// `n` and the noun, plural when `n` is not 1: "1 event", "2 events".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if let Some(stem) = noun.strip_suffix('y') {
        format!("{n} {stem}ies")
    } else {
        format!("{n} {noun}s")
    }
}

/// A span of seconds, short: `45s`, `12m`, `3h05m`, `2d04h` (the dashboard's).
pub use crate::dashboard::span;

/// How a status is coloured.
pub fn status(name: &str) -> Style {
    let c = match name {
        "pending" | "approved" | "executing" => AnsiColor::Yellow,
        "executed" => AnsiColor::Green,
        "failed" | "tampered" | "unknown" => AnsiColor::Red,
        _ => return Style::new().dimmed(),
    };
    Style::new().fg_color(Some(c.into()))
}

/// How a risk level is coloured.
pub fn risk(level: &str) -> Style {
    match level {
        "high" => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
        "medium" => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
        _ => Style::new(),
    }
}

pub fn header() -> Style {
    Style::new().bold().underline()
}

/// `text` padded to `width` columns, then styled (so escapes don't count).
pub fn padded(style: Style, text: &str, width: usize) -> String {
    let pad = width.saturating_sub(text.chars().count());
    format!("{style}{text}{style:#}{}", " ".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_say_one_thing_and_many_things() {
        assert_eq!(count(1, "open request"), "1 open request");
        assert_eq!(count(0, "event"), "0 events");
        assert_eq!(count(3, "event"), "3 events");
    }

    #[test]
    fn spans_are_short() {
        assert_eq!(span(42), "42s");
        assert_eq!(span(600), "10m");
        assert_eq!(span(5400), "1h30m");
        assert_eq!(span(2 * 86400 + 3600), "2d01h");
    }
}
