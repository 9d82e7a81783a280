//! The socket's and the inbox's wire format, a type of its own apart from
//! the engine's inputs. Nothing in it names an identity, a note's path, a
//! source or a time of submission: the daemon chooses those. Unknown fields
//! are refused, so a client that believes it can set one learns it can't.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::request::is_id;

/// What a client may ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    Submit(Submit),
    Decide {
        id: String,
        approve: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// An approval code, for a rule that asks for one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    Cancel {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Resolve {
        id: String,
        executed: bool,
        reason: String,
    },
    /// Answered once the request is settled (its exit code is known).
    Wait {
        id: String,
    },
    /// Answered at once with the request as it stands.
    Get {
        id: String,
    },
    Status,
    /// `hitl notify test [CHANNEL]` through the daemon's config.
    NotifyTest {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
    },
}

/// A request as a client submits it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submit {
    pub action: String,
    #[serde(default)]
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// Added to the caller's identity (`cli:alice (agent: LABEL)`), never
    /// in its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// How long the request may wait for a decision; never past the rule's
    /// or the config's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// An absolute deadline (an inbox entry's wait starts when the CLI ran,
    /// not when the daemon does); capped like `timeout_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
    /// An http(s) URL the outcome is POSTed to once the request settles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_requester: Option<String>,
    /// An idempotency key: a submit with a key the daemon already has, from
    /// the same requester with the same action and payload, is answered
    /// with that request instead of a new one (a resumed hook call finds
    /// its request this way); with another payload or from another
    /// requester it is refused. Not queueable in the inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A file in the state folder's inbox: a command left while the daemon was
/// down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxEntry {
    /// The entry's own id, in the daemon's id format. A submitted request
    /// gets it (the CLI has printed it for `hitl wait`), and it makes a
    /// second take of the same entry recognisable.
    pub id: String,
    pub command: Command,
}

/// Longest label, in characters.
pub const MAX_LABEL: usize = 64;
/// Longest summary, in bytes.
pub const MAX_SUMMARY: usize = 1000;
/// Longest rationale or reason, in bytes.
pub const MAX_TEXT: usize = 16 * 1024;
/// Longest idempotency key, in characters.
pub const MAX_KEY: usize = 128;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    #[error("`{0}` is not a request id or the start of one (lowercase hex digits, at most 12)")]
    BadIdPrefix(String),
    #[error(
        "`{0}` is not an id in the daemon's format (12 lowercase hex digits, the first a letter)"
    )]
    BadId(String),
    #[error("the label must be 1 to {MAX_LABEL} characters without control characters")]
    BadLabel,
    #[error("the {what} is longer than {max} bytes")]
    TooLong { what: &'static str, max: usize },
    #[error("--notify: {0}")]
    BadNotifyUrl(String),
    #[error("`{0}` is a query, not a change; it can't be queued in the inbox")]
    NotQueueable(&'static str),
    #[error("the key must be 1 to {MAX_KEY} characters, letters, digits and `._:-` only")]
    BadKey,
    #[error("a keyed submit is answered with an earlier request; it can't be queued in the inbox")]
    KeyNotQueueable,
}

impl Command {
    /// Checks what can be checked without the engine's state.
    pub fn validate(&self) -> Result<(), WireError> {
        match self {
            Command::Submit(s) => s.validate(),
            Command::Decide {
                id, reason, code, ..
            } => {
                id_prefix(id)?;
                text("code", code.as_deref(), 64)?;
                text("reason", reason.as_deref(), MAX_TEXT)
            }
            Command::Resolve { id, reason, .. } => {
                id_prefix(id)?;
                text("reason", Some(reason), MAX_TEXT)
            }
            Command::Cancel { id, reason } => {
                id_prefix(id)?;
                text("reason", reason.as_deref(), MAX_TEXT)
            }
            Command::Wait { id } | Command::Get { id } => id_prefix(id),
            Command::Status | Command::NotifyTest { .. } => Ok(()),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::Submit(_) => "submit",
            Command::Decide { .. } => "decide",
            Command::Cancel { .. } => "cancel",
            Command::Resolve { .. } => "resolve",
            Command::Wait { .. } => "wait",
            Command::Get { .. } => "get",
            Command::Status => "status",
            Command::NotifyTest { .. } => "notify_test",
        }
    }
}

impl Submit {
    fn validate(&self) -> Result<(), WireError> {
        text("summary", self.summary.as_deref(), MAX_SUMMARY)?;
        text("rationale", self.rationale.as_deref(), MAX_TEXT)?;
        if let Some(label) = &self.label {
            let n = label.chars().count();
            if n == 0 || n > MAX_LABEL || label.chars().any(is_unsafe_char) {
                return Err(WireError::BadLabel);
            }
        }
        if let Some(url) = &self.notify_requester {
            text("notify URL", Some(url), MAX_SUMMARY)?;
            crate::notify::webhook::check_url(url).map_err(WireError::BadNotifyUrl)?;
        }
        if let Some(key) = &self.key {
            let ok = !key.is_empty()
                && key.len() <= MAX_KEY
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
            if !ok {
                return Err(WireError::BadKey);
            }
        }
        Ok(())
    }
}

impl InboxEntry {
    /// Checks the entry's id and its command; queries can't be queued.
    pub fn validate(&self) -> Result<(), WireError> {
        if !is_id(&self.id) {
            return Err(WireError::BadId(self.id.clone()));
        }
        if matches!(
            self.command,
            Command::Wait { .. }
                | Command::Get { .. }
                | Command::Status
                | Command::NotifyTest { .. }
        ) {
            return Err(WireError::NotQueueable(self.command.name()));
        }
        if matches!(&self.command, Command::Submit(s) if s.key.is_some()) {
            return Err(WireError::KeyNotQueueable);
        }
        self.command.validate()
    }
}

/// An id as a caller may give it: the whole id or its start.
fn id_prefix(id: &str) -> Result<(), WireError> {
    let ok = !id.is_empty()
        && id.len() <= 12
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if ok {
        Ok(())
    } else {
        Err(WireError::BadIdPrefix(id.to_string()))
    }
}

fn text(what: &'static str, value: Option<&str>, max: usize) -> Result<(), WireError> {
    match value {
        Some(v) if v.len() > max => Err(WireError::TooLong { what, max }),
        _ => Ok(()),
    }
}

/// Control characters and the bidirectional overrides that can make text
/// display as something else.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, String> {
        serde_json::from_str::<Command>(line).map_err(|e| e.to_string())
    }

    #[test]
    fn caller_chosen_identity_path_and_source_are_refused() {
        for line in [
            r#"{"op":"submit","action":"payment","id":"../../x"}"#,
            r#"{"op":"submit","action":"payment","file_name":"../../outside.md"}"#,
            r#"{"op":"submit","action":"payment","source":"cli"}"#,
            r#"{"op":"submit","action":"payment","requested_by":"ceo"}"#,
            r#"{"op":"decide","id":"a1","approve":true,"by":"ceo"}"#,
            r#"{"op":"cancel","id":"a1","by":"ceo"}"#,
        ] {
            let e = parse(line).expect_err(line);
            assert!(e.contains("unknown field"), "{line}: {e}");
        }
    }

    #[test]
    fn ids_and_labels_are_checked_at_the_edge() {
        let bad = [
            r#"{"op":"decide","id":"../../x","approve":true}"#,
            r#"{"op":"wait","id":"/etc/passwd"}"#,
            r#"{"op":"submit","action":"payment","label":"a\u001b[2Jb"}"#,
            r#"{"op":"submit","action":"payment","label":""}"#,
        ];
        for line in bad {
            assert!(parse(line).unwrap().validate().is_err(), "{line}");
        }
        let good = parse(r#"{"op":"submit","action":"payment","label":"billing-bot"}"#).unwrap();
        assert_eq!(good.validate(), Ok(()));
        assert_eq!(parse(r#"{"op":"status"}"#).unwrap(), Command::Status);
    }

    #[test]
    fn inbox_entries_need_an_id_in_the_daemons_format() {
        let entry = |id: &str| InboxEntry {
            id: id.into(),
            command: Command::Cancel {
                id: "a1".into(),
                reason: None,
            },
        };
        assert!(entry("../../x").validate().is_err());
        assert!(entry("/tmp/x").validate().is_err());
        assert!(entry("a1b2c3d4e5f6").validate().is_ok());
        let wait = InboxEntry {
            id: "a1b2c3d4e5f6".into(),
            command: Command::Status,
        };
        assert!(wait.validate().is_err());
        let get = InboxEntry {
            id: "a1b2c3d4e5f6".into(),
            command: Command::Get { id: "a1".into() },
        };
        assert!(get.validate().is_err());
    }

    #[test]
    fn a_key_is_short_plain_text_and_a_keyed_submit_is_never_queued() {
        let submit = |key: &str| Submit {
            action: "claude-code.Bash".into(),
            key: Some(key.into()),
            ..Submit::default()
        };
        assert!(submit("hook:claude-code:ab12").validate().is_ok());
        for bad in ["", "a\nb", "../x", "k y", &"k".repeat(MAX_KEY + 1)] {
            assert_eq!(submit(bad).validate(), Err(WireError::BadKey), "{bad:?}");
        }
        let queued = InboxEntry {
            id: "a1b2c3d4e5f6".into(),
            command: Command::Submit(submit("hook:claude-code:ab12")),
        };
        assert_eq!(queued.validate(), Err(WireError::KeyNotQueueable));
    }
}
