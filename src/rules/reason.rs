//! Whether a decision must carry a reason (`reason:` in the config,
//! globally or per rule).

use serde::{Deserialize, Serialize};

/// When a decision must come with a reason (`reason:` in the config,
/// globally or per rule). A decision without a required reason is not
/// taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReasonPolicy {
    #[default]
    Optional,
    /// A rejection needs one; an approval doesn't.
    RequiredForReject,
    /// Every decision needs one.
    Required,
}

impl ReasonPolicy {
    /// Whether a decision (`approve` or reject) needs a reason.
    pub fn needs_reason(self, approve: bool) -> bool {
        match self {
            ReasonPolicy::Optional => false,
            ReasonPolicy::RequiredForReject => !approve,
            ReasonPolicy::Required => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReasonPolicy;

    #[test]
    fn which_decisions_need_a_reason() {
        use ReasonPolicy::*;
        let table = [
            (Optional, [false, false]),
            (RequiredForReject, [false, true]),
            (Required, [true, true]),
        ];
        for (policy, [approve, reject]) in table {
            assert_eq!(policy.needs_reason(true), approve, "{policy:?}");
            assert_eq!(policy.needs_reason(false), reject, "{policy:?}");
        }
    }
}
