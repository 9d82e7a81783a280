//! The daemon's answer to one command. In code it is one of three things;
//! on the wire it keeps the flat JSON shape clients already read (`ok`,
//! then only the fields that apply), which `hitl wait --json` prints.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "Wire", from = "Wire")]
pub enum Reply {
    /// The request a command was about, as it stands once the command is
    /// journaled (`exit_code` once it is settled).
    Request {
        id: String,
        status: Option<String>,
        exit_code: Option<i32>,
    },
    /// `status`: the daemon's own state.
    Status(Value),
    /// Refused, or not done, and why.
    Refused(String),
}

impl Reply {
    pub fn error(message: impl Into<String>) -> Reply {
        Reply::Refused(message.into())
    }

    /// Why the command was refused; `None` if it wasn't.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Reply::Refused(why) => Some(why.clone()),
            _ => None,
        }
    }
}

/// The JSON line as it travels.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Wire {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    info: Option<Value>,
}

impl From<Reply> for Wire {
    fn from(r: Reply) -> Wire {
        match r {
            Reply::Request {
                id,
                status,
                exit_code,
            } => Wire {
                ok: true,
                id: Some(id),
                status,
                exit_code,
                ..Wire::default()
            },
            Reply::Status(info) => Wire {
                ok: true,
                info: Some(info),
                ..Wire::default()
            },
            Reply::Refused(why) => Wire {
                ok: false,
                error: Some(why),
                ..Wire::default()
            },
        }
    }
}

impl From<Wire> for Reply {
    fn from(w: Wire) -> Reply {
        match (w.ok, w.id) {
            (false, _) => Reply::Refused(w.error.unwrap_or_else(|| "refused".into())),
            (true, Some(id)) => Reply::Request {
                id,
                status: w.status,
                exit_code: w.exit_code,
            },
            (true, None) => Reply::Status(w.info.unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replies_keep_the_wire_shape_clients_read() {
        let table = [
            (
                Reply::Request {
                    id: "a1".into(),
                    status: Some("executed".into()),
                    exit_code: Some(0),
                },
                r#"{"ok":true,"id":"a1","status":"executed","exit_code":0}"#,
            ),
            (
                Reply::Request {
                    id: "a1".into(),
                    status: Some("pending".into()),
                    exit_code: None,
                },
                r#"{"ok":true,"id":"a1","status":"pending"}"#,
            ),
            (
                Reply::Status(json!({"open": 2})),
                r#"{"ok":true,"info":{"open":2}}"#,
            ),
            (
                Reply::error("no request a1"),
                r#"{"ok":false,"error":"no request a1"}"#,
            ),
        ];
        for (reply, line) in table {
            assert_eq!(serde_json::to_string(&reply).unwrap(), line);
            assert_eq!(serde_json::from_str::<Reply>(line).unwrap(), reply);
        }
    }

    #[test]
    fn a_refusal_without_a_reason_still_reads_as_a_refusal() {
        let r: Reply = serde_json::from_str(r#"{"ok":false}"#).unwrap();
        assert_eq!(r, Reply::error("refused"));
    }
}
