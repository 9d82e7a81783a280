//! Who made an event: journaled as a string (`cli:alice (agent: x)`,
//! `vault`, `hitl`, `handler`, `rule:NAME`), typed everywhere else.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Actor {
    /// A CLI caller as the kernel named it, with the label it gave itself.
    Cli { user: String, agent: Option<String> },
    /// A gesture in the vault.
    Vault,
    /// The daemon itself (deadlines, handler starts, recovery).
    Hitl,
    /// A handler run's own result.
    Handler,
    /// The rule that decided at submission.
    Rule(String),
    /// Any other name the journal holds (a drop-in's requester), or one
    /// that would not read back as itself in the forms above.
    Named(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Cli { user, agent: None } => write!(f, "cli:{user}"),
            Actor::Cli {
                user,
                agent: Some(agent),
            } => write!(f, "cli:{user} (agent: {agent})"),
            Actor::Vault => f.write_str("vault"),
            Actor::Hitl => f.write_str("hitl"),
            Actor::Handler => f.write_str("handler"),
            Actor::Rule(name) => write!(f, "rule:{name}"),
            Actor::Named(name) => f.write_str(name),
        }
    }
}

impl From<String> for Actor {
    /// Reads a journaled actor; whatever would not be written back exactly
    /// as it was read stays a plain name.
    fn from(text: String) -> Actor {
        let actor = match text.as_str() {
            "vault" => Actor::Vault,
            "hitl" => Actor::Hitl,
            "handler" => Actor::Handler,
            t => match (t.strip_prefix("rule:"), t.strip_prefix("cli:")) {
                (Some(name), _) => Actor::Rule(name.into()),
                (_, Some(rest)) => match rest.split_once(" (agent: ") {
                    Some((user, agent)) => Actor::Cli {
                        user: user.into(),
                        agent: agent.strip_suffix(')').map(String::from),
                    },
                    None => Actor::Cli {
                        user: rest.into(),
                        agent: None,
                    },
                },
                _ => Actor::Named(text.clone()),
            },
        };
        if actor.to_string() == text {
            actor
        } else {
            Actor::Named(text)
        }
    }
}

impl From<&str> for Actor {
    fn from(text: &str) -> Actor {
        Actor::from(text.to_string())
    }
}

impl From<Actor> for String {
    fn from(actor: Actor) -> String {
        actor.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::Actor;

    #[test]
    fn actors_read_back_exactly_as_journaled() {
        let cases = [
            (
                "cli:alice (agent: x)",
                Actor::Cli {
                    user: "alice".into(),
                    agent: Some("x".into()),
                },
            ),
            (
                "cli:alice",
                Actor::Cli {
                    user: "alice".into(),
                    agent: None,
                },
            ),
            ("vault", Actor::Vault),
            ("hitl", Actor::Hitl),
            ("handler", Actor::Handler),
            ("rule:small", Actor::Rule("small".into())),
            ("agent:books", Actor::Named("agent:books".into())),
            ("cli:a (agent: b", Actor::Named("cli:a (agent: b".into())),
        ];
        for (text, want) in cases {
            let json = serde_json::to_string(text).unwrap();
            let actor: Actor = serde_json::from_str(&json).unwrap();
            assert_eq!(actor, want, "{text}");
            assert_eq!(serde_json::to_string(&actor).unwrap(), json);
        }
    }
}
