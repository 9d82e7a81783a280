//! How a decision was given: journaled as a string (`command line`,
//! `rule`, `ticked Approve, status property`, ...), typed everywhere else.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Gesture {
    /// `hitl approve|reject` over the socket.
    CommandLine,
    /// `hitl approve|reject` queued in the inbox while the daemon was down.
    Queued,
    /// The rule decided at submission.
    Rule,
    /// What the human did in the vault; several agreeing gestures at once.
    Vault(Vec<VaultGesture>),
    /// Any other text a journal holds.
    Named(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultGesture {
    MovedToApproved,
    MovedToRejected,
    StatusProperty,
    TickedApprove,
    TickedReject,
}

impl VaultGesture {
    const ALL: [VaultGesture; 5] = [
        VaultGesture::MovedToApproved,
        VaultGesture::MovedToRejected,
        VaultGesture::StatusProperty,
        VaultGesture::TickedApprove,
        VaultGesture::TickedReject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VaultGesture::MovedToApproved => "moved to the approved folder",
            VaultGesture::MovedToRejected => "moved to the rejected folder",
            VaultGesture::StatusProperty => "status property",
            VaultGesture::TickedApprove => "ticked Approve",
            VaultGesture::TickedReject => "ticked Reject",
        }
    }
}

impl fmt::Display for Gesture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gesture::CommandLine => f.write_str("command line"),
            Gesture::Queued => f.write_str("command line (queued)"),
            Gesture::Rule => f.write_str("rule"),
            Gesture::Vault(all) => {
                let words: Vec<&str> = all.iter().map(|g| g.as_str()).collect();
                f.write_str(&words.join(", "))
            }
            Gesture::Named(text) => f.write_str(text),
        }
    }
}

impl From<String> for Gesture {
    /// Reads a journaled gesture; what would not be written back exactly as
    /// it was read stays plain text.
    fn from(text: String) -> Gesture {
        let vault = || {
            text.split(", ")
                .map(|w| VaultGesture::ALL.into_iter().find(|g| g.as_str() == w))
                .collect::<Option<Vec<_>>>()
        };
        let gesture = match text.as_str() {
            "command line" => Gesture::CommandLine,
            "command line (queued)" => Gesture::Queued,
            "rule" => Gesture::Rule,
            _ => vault().map_or_else(|| Gesture::Named(text.clone()), Gesture::Vault),
        };
        if gesture.to_string() == text {
            gesture
        } else {
            Gesture::Named(text)
        }
    }
}

impl From<&str> for Gesture {
    fn from(text: &str) -> Gesture {
        Gesture::from(text.to_string())
    }
}

impl From<Gesture> for String {
    fn from(gesture: Gesture) -> String {
        gesture.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::{Gesture, VaultGesture};

    #[test]
    fn gestures_read_back_exactly_as_journaled() {
        let cases = [
            ("command line", Gesture::CommandLine),
            ("command line (queued)", Gesture::Queued),
            ("rule", Gesture::Rule),
            (
                "ticked Approve, status property",
                Gesture::Vault(vec![
                    VaultGesture::TickedApprove,
                    VaultGesture::StatusProperty,
                ]),
            ),
            (
                "moved to the rejected folder",
                Gesture::Vault(vec![VaultGesture::MovedToRejected]),
            ),
            ("cli", Gesture::Named("cli".into())),
            ("", Gesture::Named("".into())),
        ];
        for (text, want) in cases {
            let json = serde_json::to_string(text).unwrap();
            let gesture: Gesture = serde_json::from_str(&json).unwrap();
            assert_eq!(gesture, want, "{text}");
            assert_eq!(serde_json::to_string(&gesture).unwrap(), json);
        }
    }
}
