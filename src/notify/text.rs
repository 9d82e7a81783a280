//! The words of a message, shared by every channel: what is asked and why,
//! the payload shortened to the channel's limit, the deadline in local time
//! and how long is left, the commands, and the note's link. Pure: the clock
//! and time zone are given.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{EventKind, Notice};
use crate::rules::Risk;

/// "Now" and the person's time zone, given so rendering is testable.
#[derive(Debug, Clone)]
pub struct Clock {
    pub now: Timestamp,
    pub tz: TimeZone,
}

impl Clock {
    pub fn system() -> Clock {
        Clock {
            now: Timestamp::now(),
            tz: TimeZone::system(),
        }
    }
}

/// A message before a channel gives it its form.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub title: String,
    pub body: String,
    /// The note's `obsidian://` link, if the message is about one note.
    pub link: Option<String>,
    pub risk: Risk,
    /// The request id, when the message can carry Approve/Reject.
    pub id: Option<String>,
}

/// The title line: what happened, to which action. It becomes an email's
/// Subject and ntfy's Title header, whose readers decode RFC 2047 encoded
/// words: a `=?` from requester text is written `= ?`, so a summary can't
/// smuggle in an encoded word that shows unchecked characters.
pub fn title(n: &Notice) -> String {
    let what = match n.kind {
        EventKind::Pending => "Approval needed",
        EventKind::Reminder => "Reminder: approval needed",
        EventKind::Decided => "Decided",
        EventKind::Result => "Result",
    };
    shorten(
        &format!(
            "{what}: {} ({} risk): {}",
            plain(&n.action),
            n.risk.as_str(),
            plain(&n.summary)
        )
        .replace("=?", "= ?"),
        200,
    )
}

/// Most characters of a summary a message's body quotes: the payload, the
/// deadline and the commands after it stay in view on every channel.
pub const SUMMARY_LIMIT: usize = 200;

/// Requester text made safe for one line of a message: every line break or
/// control character becomes a space (so a summary can't start a line of its
/// own that reads `Risk: low`, `Outcome: approved` or pushes the payload out
/// of view), and bidirectional overrides and invisible characters are shown
/// as `\u{..}` escapes rather than obeyed.
pub fn plain(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect();
    crate::executor::visible(&one).into_owned()
}

/// A notice's text, the payload cut to `payload_limit` characters.
pub fn notice(n: &Notice, clock: &Clock, payload_limit: usize) -> Text {
    let link = super::uri::obsidian_open(&n.vault, &n.note);
    let mut body = String::new();
    if let Some(outcome) = &n.outcome {
        body.push_str(&format!("Outcome: {}\n", plain(outcome)));
    }
    if let Some(at) = n.runs_at {
        body.push_str(&format!(
            "Runs at: {} unless rejected or cancelled before\n",
            deadline(at, clock)
        ));
    }
    body.push_str(&format!(
        "Action: {}\nSummary: {}\n",
        plain(&n.action),
        shorten(&plain(&n.summary), SUMMARY_LIMIT)
    ));
    body.push_str(&format!("Risk: {}", n.risk.as_str()));
    if n.signals.is_empty() {
        body.push('\n');
    } else {
        let signals: Vec<String> = n.signals.iter().map(|s| plain(s)).collect();
        body.push_str(&format!(" ({})\n", signals.join("; ")));
    }
    body.push_str(&format!(
        "Payload: {}\n",
        payload(&n.payload, payload_limit)
    ));
    body.push_str(&format!("Deadline: {}\n", deadline(n.deadline, clock)));
    body.push_str(&format!("Rule: {}\n", plain(&n.rule)));
    if matches!(n.kind, EventKind::Pending | EventKind::Reminder) {
        body.push_str(&format!(
            "Approve: hitl approve {}\nReject: hitl reject {}\n",
            n.id, n.id
        ));
    }
    body.push_str(&format!("Note: {link}\n"));
    Text {
        title: title(n),
        body,
        link: Some(link),
        risk: n.risk,
        id: matches!(n.kind, EventKind::Pending | EventKind::Reminder).then(|| n.id.clone()),
    }
}

/// "N new requests", listing the `top` riskiest first.
pub fn digest(notices: &[Notice], clock: &Clock, top: usize) -> Text {
    let mut sorted: Vec<&Notice> = notices.iter().collect();
    sorted.sort_by(|a, b| b.risk.cmp(&a.risk).then(a.deadline.cmp(&b.deadline)));
    let mut body = String::new();
    for n in sorted.iter().take(top) {
        body.push_str(&format!(
            "- [{}] {}: {} (hitl approve {}; {})\n",
            n.risk.as_str(),
            plain(&n.action),
            shorten(&plain(&n.summary), 80),
            n.id,
            deadline(n.deadline, clock)
        ));
    }
    if sorted.len() > top {
        body.push_str(&format!(
            "... and {} more: hitl list --status pending\n",
            sorted.len() - top
        ));
    }
    Text {
        title: format!("{} new requests", notices.len()),
        body,
        link: None,
        risk: sorted.first().map(|n| n.risk).unwrap_or_default(),
        id: None,
    }
}

/// The deadline in local time and what is left: `2026-11-26 07:30 CET (in 1h 5m)`.
pub fn deadline(at: Timestamp, clock: &Clock) -> String {
    let local = at.to_zoned_datetime(clock.tz.clone());
    let left = at.duration_since(clock.now);
    let left = if left.is_negative() {
        "passed".to_string()
    } else {
        let mins = left.as_secs() / 60;
        match (mins / 60, mins % 60) {
            (0, m) => format!("in {m}m"),
            (h, m) => format!("in {h}h {m}m"),
        }
    };
    format!("{} ({left})", local.strftime("%Y-%m-%d %H:%M %Z"))
}

/// The payload as compact JSON, at most `limit` characters.
pub fn payload(v: &serde_json::Value, limit: usize) -> String {
    shorten(&v.to_string(), limit)
}

/// At most `limit` characters, an ellipsis marking a cut.
pub fn shorten(s: &str, limit: usize) -> String {
    if s.chars().count() <= limit {
        return s.to_string();
    }
    let mut out: String = s.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
pub(crate) fn fixed() -> (Notice, Clock) {
    let now: Timestamp = "2026-11-26T05:00:00Z".parse().unwrap();
    let n = Notice {
        kind: EventKind::Pending,
        id: "3adb6f0e".into(),
        action: "payment".into(),
        summary: "Pay invoice 2291 to ACME GmbH".into(),
        risk: Risk::High,
        signals: vec!["amount over 1000".into(), "new payee".into()],
        payload: serde_json::json!({ "amount": 4200, "to": "DE89 3704 0044 0532 0130 00", "memo": "x".repeat(300) }),
        deadline: "2026-11-26T06:05:00Z".parse().unwrap(),
        rule: "large-payment".into(),
        vault: "My Vault".into(),
        note: "Pending_Approval/payment 3adb6f0e.md".into(),
        outcome: None,
        runs_at: None,
        channels: None,
    };
    // A POSIX rule, not the tz database: the same on a machine without tzdata.
    let tz = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
    (n, Clock { now, tz })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_cut_to_the_limit_on_a_char_boundary() {
        let v = serde_json::json!({ "memo": "€".repeat(50) });
        let s = payload(&v, 20);
        assert_eq!(s.chars().count(), 20);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn digest_lists_the_riskiest_first() {
        let (n, clock) = fixed();
        let mut low = n.clone();
        low.risk = Risk::Low;
        low.id = "low1".into();
        let t = digest(&[low.clone(), low.clone(), n, low], &clock, 2);
        assert_eq!(t.title, "4 new requests");
        assert!(t.body.starts_with("- [high] payment"), "{}", t.body);
        assert!(t.body.contains("and 2 more"), "{}", t.body);
    }

    #[test]
    fn an_encoded_word_in_a_summary_cannot_reach_a_header() {
        let (mut n, _) = fixed();
        n.summary = "Pay =?UTF-8?B?4oCu?= now".into();
        assert!(
            title(&n).ends_with("Pay = ?UTF-8?B?4oCu?= now"),
            "{}",
            title(&n)
        );
    }

    #[test]
    fn golden_approval_in_an_undo_window_says_when_it_runs() {
        let (mut n, clock) = fixed();
        n.kind = EventKind::Decided;
        n.outcome = Some("approved by ann (ticked Approve)".into());
        n.runs_at = Some("2026-11-26T05:10:00Z".parse().unwrap());
        n.note = "Approved/payment 3adb6f0e.md".into();
        let t = notice(&n, &clock, 60);
        insta::assert_snapshot!(format!("{}\n\n{}", t.title, t.body));
    }

    #[test]
    fn deadline_shows_local_time_and_time_left() {
        let (n, clock) = fixed();
        assert_eq!(
            deadline(n.deadline, &clock),
            "2026-11-26 07:05 CET (in 1h 5m)"
        );
    }
}
