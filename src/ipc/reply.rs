//! The daemon's answer to one command. In code it is one of three things;
//! on the wire it keeps the flat JSON shape clients already read (`ok`,
//! then only the fields that apply), which `hitl wait --json` prints.
//! A request's [`RequestOutcome`] rides in the same flat object.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::outcome::RequestOutcome;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "Wire", from = "Wire")]
pub enum Reply {
    /// The request a command was about, as it stands once the command is
    /// journaled (`exit_code`, `hitl wait`'s, once it is settled), and
    /// its outcome (who decided, why, what the handler did).
    Request {
        id: String,
        status: Option<String>,
        exit_code: Option<i32>,
        outcome: Option<Box<RequestOutcome>>,
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

    /// The request's outcome, if this is a reply about a request.
    pub fn outcome(&self) -> Option<&RequestOutcome> {
        match self {
            Reply::Request { outcome, .. } => outcome.as_deref(),
            _ => None,
        }
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
    decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    handler_exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    handler_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output_head: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    output_truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deadline: Option<Timestamp>,
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
                outcome,
            } => {
                let wire = Wire {
                    ok: true,
                    id: Some(id),
                    status,
                    exit_code,
                    ..Wire::default()
                };
                match outcome {
                    Some(o) => wire.with_outcome(*o),
                    None => wire,
                }
            }
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

impl Wire {
    fn with_outcome(self, o: RequestOutcome) -> Wire {
        Wire {
            decided_by: o.decided_by,
            reason: o.reason,
            handler_exit_code: o.handler_exit_code,
            handler_error: o.handler_error,
            output_head: o.output_head,
            output_truncated: o.output_truncated,
            deadline: o.deadline,
            ..self
        }
    }
}

impl From<Wire> for Reply {
    fn from(w: Wire) -> Reply {
        match (w.ok, w.id) {
            (false, _) => Reply::Refused(w.error.unwrap_or_else(|| "refused".into())),
            (true, Some(id)) => {
                // A reply with a status carries an outcome; an older
                // daemon's has no details, and so none of its fields.
                let outcome = w.status.clone().map(|status| {
                    Box::new(RequestOutcome {
                        id: id.clone(),
                        status,
                        decided_by: w.decided_by,
                        reason: w.reason,
                        handler_exit_code: w.handler_exit_code,
                        handler_error: w.handler_error,
                        output_head: w.output_head,
                        output_truncated: w.output_truncated,
                        deadline: w.deadline,
                    })
                });
                Reply::Request {
                    id,
                    status: w.status,
                    exit_code: w.exit_code,
                    outcome,
                }
            }
            (true, None) => Reply::Status(w.info.unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn about(id: &str, status: &str, exit_code: Option<i32>, o: Value) -> Reply {
        let mut o = o;
        o["id"] = json!(id);
        o["status"] = json!(status);
        Reply::Request {
            id: id.into(),
            status: Some(status.into()),
            exit_code,
            outcome: Some(Box::new(serde_json::from_value(o).unwrap())),
        }
    }

    #[test]
    fn replies_keep_the_wire_shape_clients_read() {
        let table = [
            (
                about(
                    "a1",
                    "executed",
                    Some(0),
                    json!({"decided_by": "vault", "reason": "ok", "handler_exit_code": 0, "output_head": "done\n"}),
                ),
                r#"{"ok":true,"id":"a1","status":"executed","exit_code":0,"decided_by":"vault","reason":"ok","handler_exit_code":0,"output_head":"done\n"}"#,
            ),
            (
                about(
                    "a1",
                    "pending",
                    None,
                    json!({"deadline": "2026-11-26T10:00:00Z"}),
                ),
                r#"{"ok":true,"id":"a1","status":"pending","deadline":"2026-11-26T10:00:00Z"}"#,
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
    fn an_older_daemons_reply_still_reads_with_its_status_as_the_outcome() {
        let r: Reply =
            serde_json::from_str(r#"{"ok":true,"id":"a1","status":"rejected","exit_code":3}"#)
                .unwrap();
        let o = r.outcome().unwrap();
        assert_eq!((o.id.as_str(), o.status.as_str()), ("a1", "rejected"));
        assert_eq!(o.decided_by, None);
    }

    #[test]
    fn a_refusal_without_a_reason_still_reads_as_a_refusal() {
        let r: Reply = serde_json::from_str(r#"{"ok":false}"#).unwrap();
        assert_eq!(r, Reply::error("refused"));
    }
}
