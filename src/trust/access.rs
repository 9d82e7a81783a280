//! Who may submit and who may decide by CLI: the config's `requesters:`,
//! `approvers:` and `allow_self_approval`, checked against the uid the
//! kernel gives for the socket's peer (or an inbox file's owner).

use crate::config::trust::Access;
use crate::request::Actor;

/// Why a caller was turned away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("{0} is not in `requesters:`: it may not submit requests")]
    NotARequester(String),
    #[error("{0} is not in `approvers:`: it may not approve (rejecting is always allowed)")]
    NotAnApprover(String),
    #[error("{0} asked for this request and may not approve it (`allow_self_approval` is off)")]
    OwnRequest(String),
}

/// Whether the caller `(uid, name)` may submit.
pub fn may_submit(access: &Access, uid: u32, name: &str) -> Result<(), Denied> {
    match &access.requesters {
        Some(list) if !list.iter().any(|u| u.is(uid, name)) => {
            Err(Denied::NotARequester(name.to_string()))
        }
        _ => Ok(()),
    }
}

/// Whether the caller may approve a request `requested_by` asked for.
/// Rejecting is always allowed: failing closed needs no permission.
pub fn may_approve(
    access: &Access,
    uid: u32,
    name: &str,
    requested_by: &str,
) -> Result<(), Denied> {
    if !access.approvers.is_empty() && !access.approvers.iter().any(|a| a.user.is(uid, name)) {
        return Err(Denied::NotAnApprover(name.to_string()));
    }
    let own = matches!(Actor::from(requested_by), Actor::Cli { user, .. } if user == name);
    if own && !access.allow_self_approval {
        return Err(Denied::OwnRequest(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::trust::{Approver, UserRef};

    fn access(requesters: Option<Vec<UserRef>>, approvers: &[&str], self_ok: bool) -> Access {
        Access {
            requesters,
            approvers: approvers
                .iter()
                .map(|a| Approver {
                    user: UserRef::Name(a.to_string()),
                    code_via: vec![],
                })
                .collect(),
            allow_self_approval: self_ok,
            ..Access::default()
        }
    }

    #[test]
    fn an_agent_user_may_submit_but_not_approve() {
        let a = access(Some(vec![UserRef::Name("agent".into())]), &["alice"], false);
        assert_eq!(may_submit(&a, 990, "agent"), Ok(()));
        assert!(may_submit(&a, 1000, "alice").is_err());
        assert!(matches!(
            may_approve(&a, 990, "agent", "cli:agent"),
            Err(Denied::NotAnApprover(_))
        ));
        assert_eq!(
            may_approve(&a, 1000, "alice", "cli:agent (agent: bot)"),
            Ok(())
        );
    }

    #[test]
    fn a_requester_approves_its_own_request_only_when_allowed() {
        let no = access(Some(vec![UserRef::Uid(1000)]), &[], false);
        assert_eq!(
            may_approve(&no, 1000, "alice", "cli:alice (agent: bot)"),
            Err(Denied::OwnRequest("alice".into()))
        );
        assert_eq!(may_approve(&no, 1001, "bob", "cli:alice"), Ok(()));
        let yes = access(None, &[], true);
        assert_eq!(may_approve(&yes, 1000, "alice", "cli:alice"), Ok(()));
        assert_eq!(may_submit(&yes, 4242, "anyone"), Ok(()));
    }
}
