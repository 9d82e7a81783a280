//! Why the machine refused an input that has a caller. The reply's text
//! is the refusal's message.

use jiff::Timestamp;

use crate::request::Id;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("no request {0}")]
    NoRequest(Id),
    #[error("no request matches `{0}`")]
    NoMatch(String),
    #[error("`{0}` matches more than one request; give more of the id")]
    Ambiguous(String),
    #[error("`{0}` is not an action type (letters, digits, _ - . only)")]
    NotAnAction(String),
    #[error("request id {0} is taken")]
    IdTaken(Id),
    #[error("request {id} is already {status}")]
    NotPending { id: Id, status: &'static str },
    #[error("request {id} expired at {expires} before this decision was taken")]
    ExpiredFirst { id: Id, expires: Timestamp },
    #[error(
        "{} needs a reason (--reason, or decision_reason in the note)",
        if *approve { "an approval" } else { "a rejection" }
    )]
    ReasonRequired { approve: bool },
    #[error("request {id} is {status}, not unknown: nothing to resolve")]
    NotUnknown { id: Id, status: &'static str },
    #[error("request {0} is not executing; result ignored")]
    NotExecuting(Id),
    #[error("the payload nests deeper than {0} levels")]
    TooDeep(usize),
    #[error(
        "this request needs the code sent to {via} ({gesture} without a code): put it in the note's `code` property (or `hitl approve ID --code CODE`); nothing changed"
    )]
    CodeNeeded { via: String, gesture: String },
    #[error("wrong approval code ({count} of {max} allowed); nothing changed")]
    WrongCode { count: u32, max: u32 },
    #[error(
        "{who} already approved this request; it needs {need} distinct approvers (so far: {so_far})"
    )]
    AlreadyCounted {
        who: String,
        need: u32,
        so_far: String,
    },
    #[error("approval counted ({have} of {need}; so far: {so_far}); it waits for more approvers")]
    Counted {
        have: usize,
        need: u32,
        so_far: String,
    },
    #[error("{0}")]
    Denied(#[from] crate::trust::access::Denied),
    /// A key already given to another request, with another action or
    /// payload, or by another requester.
    #[error(
        "the key is already request {id}'s, which {why}; a key names one request of one requester"
    )]
    KeyTaken { id: Id, why: &'static str },
    /// A query (`status`, `wait`) where only a change can be taken.
    #[error("a query, not a change; it can't be queued")]
    NotAChange,
}
