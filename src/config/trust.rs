//! The trust settings (DESIGN.md, "Trust"): a rule's approval code,
//! quorum and undo window, and the config's requesters and approvers.

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::ConfigError;
use super::fields::duration;

/// How many wrong codes a request takes before it is rejected.
pub const MAX_WRONG_CODES: u32 = 5;

/// A rule's trust settings, as typed.
pub(super) struct RawRuleTrust<'a> {
    pub approval: Option<Approval>,
    pub code_via: &'a Option<Vec<String>>,
    pub approvals: Option<u32>,
    pub grace: &'a Option<Spanned<String>>,
}

/// What an approval takes besides a gesture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// A gesture alone.
    #[default]
    Gesture,
    /// A gesture with the request's one-time code.
    Code,
}

/// What a rule asks of an approval; the default asks nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTrust {
    pub approval: Approval,
    /// Where the codes go: channel names from `notify:`, or `totp`.
    pub code_via: Vec<String>,
    /// Distinct approvers needed (1: the usual single decision).
    pub approvals: u32,
    /// How long an approved request waits before its handler starts.
    pub grace: Duration,
}

impl Default for RuleTrust {
    fn default() -> RuleTrust {
        RuleTrust {
            approval: Approval::Gesture,
            code_via: Vec::new(),
            approvals: 1,
            grace: Duration::ZERO,
        }
    }
}

impl RuleTrust {
    /// Whether a code from an authenticator app is accepted.
    pub fn totp(&self) -> bool {
        self.code_via.iter().any(|c| c == TOTP)
    }

    /// Whether anything beyond one plain gesture is asked.
    pub fn is_plain(&self) -> bool {
        self.approval == Approval::Gesture && self.approvals <= 1
    }
}

/// The `code_via` name of the authenticator app.
pub const TOTP: &str = "totp";

/// A user as the config names one: a name, or a uid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum UserRef {
    Uid(u32),
    Name(String),
}

impl UserRef {
    /// Whether the caller the kernel named is this user.
    pub fn is(&self, uid: u32, name: &str) -> bool {
        match self {
            UserRef::Uid(u) => *u == uid,
            UserRef::Name(n) => n == name || n.parse::<u32>().is_ok_and(|u| u == uid),
        }
    }

    /// The name a code or a journal line knows this user by.
    pub fn label(&self) -> String {
        match self {
            UserRef::Uid(u) => crate::ipc::Caller::from_uid(*u).name,
            UserRef::Name(n) => n.clone(),
        }
    }
}

/// An approver: who, and where their own code goes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RawApprover {
    Plain(UserRef),
    WithChannels {
        user: UserRef,
        #[serde(default)]
        code_via: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    pub user: UserRef,
    /// Where this approver's own code goes; empty: no code of their own.
    pub code_via: Vec<String>,
}

/// Who may ask and who may decide (by CLI).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// `None`: anyone who can reach the socket.
    pub requesters: Option<Vec<UserRef>>,
    /// Empty: anyone who can reach the socket.
    pub approvers: Vec<Approver>,
    pub allow_self_approval: bool,
    /// The group the socket is shared with (mode 0660), if any.
    pub socket_group: Option<String>,
    /// Where a rule's codes go when it names none.
    pub code_via: Vec<String>,
}

pub(super) fn rule_trust(
    origin: &str,
    field: &str,
    raw: RawRuleTrust,
    channels: &[&str],
    default_via: &[String],
) -> Result<RuleTrust, ConfigError> {
    let grace = match &raw.grace {
        None => Duration::ZERO,
        Some(_) => duration(origin, &format!("{field}.grace"), raw.grace, Duration::ZERO)?,
    };
    let approvals = raw.approvals.unwrap_or(1);
    if approvals == 0 {
        return Err(super::invalid(
            origin,
            format!("{field}.approvals"),
            "must be at least 1",
        ));
    }
    let code_via = raw.code_via.clone().unwrap_or_else(|| default_via.to_vec());
    let approval = raw.approval.unwrap_or_default();
    if approval == Approval::Code && code_via.is_empty() {
        return Err(super::invalid(
            origin,
            format!("{field}.code_via"),
            "`approval: code` needs `code_via` (channel names, or `totp`) here or at the top level",
        ));
    }
    check_channels(origin, &format!("{field}.code_via"), &code_via, channels)?;
    Ok(RuleTrust {
        approval,
        code_via,
        approvals,
        grace,
    })
}

fn check_channels(
    origin: &str,
    field: &str,
    via: &[String],
    channels: &[&str],
) -> Result<(), ConfigError> {
    match via
        .iter()
        .find(|v| *v != TOTP && !channels.contains(&v.as_str()))
    {
        Some(v) => Err(super::invalid(
            origin,
            field,
            format!("`{v}` is not a channel in `notify:` (nor `totp`)"),
        )),
        None => Ok(()),
    }
}

/// The raw top-level trust fields.
pub(super) struct RawAccess {
    pub requesters: Option<Vec<UserRef>>,
    pub approvers: Vec<Spanned<RawApprover>>,
    pub allow_self_approval: Option<bool>,
    pub socket_group: Option<String>,
    pub code_via: Vec<String>,
}

pub(super) fn access(
    origin: &str,
    raw: RawAccess,
    channels: &[&str],
) -> Result<Access, ConfigError> {
    check_channels(origin, "code_via", &raw.code_via, channels)?;
    let approvers = raw
        .approvers
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let (user, code_via) = match a.value.clone() {
                RawApprover::Plain(user) => (user, Vec::new()),
                RawApprover::WithChannels { user, code_via } => (user, code_via),
            };
            let field = format!("approvers[{i}].code_via");
            check_channels(origin, &field, &code_via, channels)?;
            Ok(Approver { user, code_via })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    Ok(Access {
        allow_self_approval: raw.allow_self_approval.unwrap_or(raw.requesters.is_none()),
        requesters: raw.requesters,
        approvers,
        socket_group: raw.socket_group,
        code_via: raw.code_via,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<crate::config::Config, String> {
        let notify = "notify:\n  - { name: phone, kind: webhook, url: \"http://127.0.0.1:9/x\" }\n";
        crate::config::Config::parse(&format!("{notify}{extra}"), "c").map_err(|e| e.to_string())
    }

    #[test]
    fn trust_settings_are_validated_once() {
        let c = parse("requesters: [agent, 990]\napprovers: [alice, { user: bob, code_via: [phone] }]\nrules:\n  - { name: r, when: {}, decision: require, approval: code, code_via: [phone, totp], approvals: 2, grace: 30s }\n").unwrap();
        let t = c.rule_trust(Some("r"));
        assert_eq!(t.approval, Approval::Code);
        assert!(t.totp());
        assert_eq!((t.approvals, t.grace), (2, Duration::from_secs(30)));
        assert!(
            !c.access.allow_self_approval,
            "off by default with requesters"
        );
        assert_eq!(c.access.approvers[1].code_via, ["phone"]);
        assert_eq!(c.rule_trust(Some("gone")), RuleTrust::default());
        assert!(parse("").unwrap().access.allow_self_approval);
        for (bad, says) in [
            (
                "rules:\n  - { name: r, when: {}, decision: require, approval: code }\n",
                "needs `code_via`",
            ),
            (
                "rules:\n  - { name: r, when: {}, decision: require, code_via: [pager] }\n",
                "`pager` is not a channel",
            ),
            (
                "rules:\n  - { name: r, when: {}, decision: require, approvals: 0 }\n",
                "at least 1",
            ),
            (
                "approvers: [{ user: bob, code_via: [pager] }]\n",
                "`pager` is not a channel",
            ),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn users_match_by_name_or_by_uid() {
        assert!(UserRef::Name("alice".into()).is(1000, "alice"));
        assert!(UserRef::Name("1000".into()).is(1000, "alice"));
        assert!(UserRef::Uid(1000).is(1000, "alice"));
        assert!(!UserRef::Uid(1001).is(1000, "alice"));
        assert!(!UserRef::Name("bob".into()).is(1000, "alice"));
    }
}
