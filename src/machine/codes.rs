//! Approval codes in the machine: which codes a new request sends, whose a
//! given code is, and what a wrong one costs.

use jiff::Timestamp;

use super::trust::Gate;
use super::{Effect, Machine, Refusal, Step};
use crate::config::trust::{MAX_WRONG_CODES, RuleTrust};
use crate::request::{Actor, EventKind, Gesture};
use crate::trust::{code, totp};

/// A code that matched: whose it is, and the authenticator step it used.
pub(super) struct Matched {
    pub(super) approver: Option<String>,
    pub(super) totp_step: Option<u64>,
}

impl Machine {
    /// The codes a new request's rule asks to send: its own code to the
    /// rule's channels, and each approver's to theirs (for a rule that
    /// asks for a code or a quorum).
    pub fn codes_to_send(&self, id: &str) -> Option<Effect> {
        let rule = self.requests.get(id)?.sub.rule.clone();
        let trust = self.config.rule_trust(rule.as_deref());
        if trust.is_plain() {
            return None;
        }
        let own: Vec<String> = trust
            .code_via
            .iter()
            .filter(|c| *c != crate::config::trust::TOTP)
            .cloned()
            .collect();
        let mut codes = Vec::new();
        if !own.is_empty() {
            codes.push((None, own));
        }
        for a in &self.config.access.approvers {
            if !a.code_via.is_empty() {
                codes.push((Some(a.user.label()), a.code_via.clone()));
            }
        }
        (!codes.is_empty()).then(|| Effect::SendCodes {
            id: id.to_string(),
            codes,
        })
    }

    /// The code's owner, if `given` is one of this request's codes.
    pub(super) fn match_code(
        &self,
        id: &str,
        trust: &RuleTrust,
        given: &str,
        now: Timestamp,
    ) -> Option<Matched> {
        let keys = self.keys.as_ref()?;
        let sha = &self.requests[id].sub.payload_sha256;
        let own = |approver: Option<&str>| {
            code::same(&code::derive(&keys.codes, id, sha, approver), given)
        };
        for a in &self.config.access.approvers {
            let label = a.user.label();
            if !a.code_via.is_empty() && own(Some(&label)) {
                return Some(Matched {
                    approver: Some(label),
                    totp_step: None,
                });
            }
        }
        let mailed = trust
            .code_via
            .iter()
            .any(|c| c != crate::config::trust::TOTP);
        if mailed && own(None) {
            return Some(Matched {
                approver: None,
                totp_step: None,
            });
        }
        let secret = keys.totp.as_deref().filter(|_| trust.totp())?;
        let step = totp::matching_step(secret, given, now.as_second())?;
        // A step already taken is a replay: refused like a wrong code.
        (!self.ledger.totp_steps.contains(&step)).then_some(Matched {
            approver: None,
            totp_step: Some(step),
        })
    }

    pub(super) fn wrong_code(
        &mut self,
        step: &mut Step,
        now: Timestamp,
        id: &str,
        by: &Actor,
        gesture: &Gesture,
        given: &str,
    ) -> Gate {
        let count = self.ledger.wrong.get(id).copied().unwrap_or(0);
        if self.ledger.last_wrong.get(id).is_some_and(|w| w == given) {
            // The same guess read again (its note not rewritten yet).
            let max = MAX_WRONG_CODES;
            return Gate::Hold(Refusal::WrongCode { count, max });
        }
        self.ledger
            .last_wrong
            .insert(id.to_string(), given.to_string());
        let count = count + 1;
        tracing::warn!(request = %id, by = %by, count, "wrong approval code");
        let kind = EventKind::WrongCode {
            gesture: gesture.clone(),
            count,
        };
        self.push(step, now, id, by, kind);
        if count >= MAX_WRONG_CODES {
            let reason = Some(format!("{count} wrong approval codes"));
            let kind = EventKind::Rejected {
                reason,
                gesture: Gesture::Named("wrong codes".into()),
            };
            self.finish_pending(step, now, id, &Actor::Hitl, kind);
        } else {
            let rewrite = Effect::WriteNote {
                id: id.to_string(),
                adopt: None,
            };
            if !step.effects.contains(&rewrite) {
                step.effects.push(rewrite);
            }
        }
        Gate::Hold(Refusal::WrongCode {
            count,
            max: MAX_WRONG_CODES,
        })
    }
}
