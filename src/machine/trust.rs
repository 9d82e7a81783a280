//! The trust gate on approvals (DESIGN.md, "Trust"): approval codes,
//! authenticator codes accepted once, quorums, and the undo window. What it
//! remembers ([`Ledger`]) is a fold over the journal like the requests
//! themselves, so it survives a restart.

use std::collections::{BTreeSet, HashMap, HashSet};

use jiff::Timestamp;

use super::codes::Matched;
use super::{Effect, Machine, Refusal, Step};
use crate::config::trust::Approval;
use crate::request::{Actor, Event, EventKind, Gesture, Id, Status};
use crate::trust::code;

/// What the trust gate knows, rebuilt from the journal.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    /// Who has approved each pending request so far, in order.
    endorsers: HashMap<Id, Vec<String>>,
    /// Wrong codes given per request.
    pub(super) wrong: HashMap<Id, u32>,
    /// Authenticator time steps taken: each opens one request only.
    pub(super) totp_steps: BTreeSet<u64>,
    /// Approved requests waiting out their undo window, until when.
    held: HashMap<Id, Timestamp>,
    /// Requests whose note's `code` was read and used (or refused): the
    /// next rewrite clears it. Not journaled: it describes the note.
    spent: HashSet<Id>,
    /// The last wrong code per request, so a note read twice before its
    /// rewrite lands does not count the same guess twice. Not journaled.
    pub(super) last_wrong: HashMap<Id, String>,
}

impl Ledger {
    /// Takes in one journaled event (live or replayed).
    pub fn absorb(&mut self, ev: &Event) {
        let id = &ev.request;
        match &ev.kind {
            EventKind::Endorsed {
                approver,
                totp_step,
                ..
            } => {
                self.endorsers
                    .entry(id.clone())
                    .or_default()
                    .push(approver.clone());
                self.totp_steps.extend(totp_step);
            }
            EventKind::WrongCode { count, .. } => {
                self.wrong.insert(id.clone(), *count);
            }
            EventKind::Held { until } => {
                self.held.insert(id.clone(), *until);
            }
            EventKind::Executing { .. } | EventKind::Revoked { .. } => {
                self.held.remove(id);
            }
            _ => {}
        }
    }

    /// When an approved request's undo window ends, while it lasts.
    pub fn held_until(&self, id: &str) -> Option<Timestamp> {
        self.held.get(id).copied()
    }

    /// Pending-request deadlines that are undo windows, for a replay.
    pub fn windows(&self) -> impl Iterator<Item = (Timestamp, Id)> + '_ {
        self.held.iter().map(|(id, t)| (*t, id.clone()))
    }

    fn so_far(&self, id: &str) -> String {
        match self.endorsers.get(id) {
            Some(list) if !list.is_empty() => list.join(", "),
            _ => "nobody".into(),
        }
    }
}

/// What the gate says about one approval gesture.
pub(in crate::machine) enum Gate {
    /// Approve now (the events before it are already pushed).
    Approve,
    /// No approval now; the reason is the caller's reply or the note's
    /// warning. Events (a counted approval, a wrong code) may be pushed.
    Hold(Refusal),
}

impl Machine {
    /// The note's `code` was used: its next rewrite clears it.
    pub fn code_spent(&self, id: &str) -> bool {
        self.ledger.spent.contains(id)
    }

    /// The note shows no code any more (or its rewrite drops it).
    pub fn code_cleared(&mut self, id: &str) {
        self.ledger.spent.remove(id);
    }

    /// When an approved request in its undo window will run (for the
    /// approval's notification), while the window lasts.
    pub fn runs_at(&self, id: &str) -> Option<Timestamp> {
        self.ledger.held_until(id)
    }

    /// The secrets approval codes are checked with.
    pub fn set_keys(&mut self, keys: std::sync::Arc<crate::trust::Keys>) {
        self.keys = Some(keys);
    }

    pub fn keys(&self) -> Option<&std::sync::Arc<crate::trust::Keys>> {
        self.keys.as_ref()
    }

    /// Checks an approval against its rule's code and quorum; counts it.
    pub(super) fn gate(
        &mut self,
        step: &mut Step,
        now: Timestamp,
        id: &str,
        by: &Actor,
        gesture: &Gesture,
        given: Option<&str>,
    ) -> Gate {
        let rule = self.requests[id].sub.rule.clone();
        let trust = self.config.rule_trust(rule.as_deref());
        if trust.is_plain() {
            return Gate::Approve;
        }
        let given = given.map(code::normalize).filter(|c| !c.is_empty());
        if given.is_some() && *by == Actor::Vault {
            // The note's code is used up, right or wrong.
            self.ledger.spent.insert(id.to_string());
        }
        let matched = match (&given, trust.approval) {
            (None, Approval::Code) => {
                let via = trust.code_via.join(", ");
                let gesture = gesture.to_string();
                return Gate::Hold(Refusal::CodeNeeded { via, gesture });
            }
            (None, Approval::Gesture) => None,
            (Some(c), _) => match self.match_code(id, &trust, c, now) {
                Some(m) => Some(m),
                None => return self.wrong_code(step, now, id, by, gesture, c),
            },
        };
        let approver = match (&matched, by) {
            (
                Some(Matched {
                    approver: Some(a), ..
                }),
                _,
            ) => a.clone(),
            (_, Actor::Cli { user, .. }) => user.clone(),
            _ => "vault".to_string(),
        };
        let totp_step = matched.and_then(|m| m.totp_step);
        self.count(
            step,
            now,
            id,
            by,
            gesture,
            approver,
            totp_step,
            trust.approvals,
        )
    }

    /// Counts `approver` toward the `need`ed approvals, once.
    #[allow(clippy::too_many_arguments)]
    fn count(
        &mut self,
        step: &mut Step,
        now: Timestamp,
        id: &str,
        by: &Actor,
        gesture: &Gesture,
        approver: String,
        totp_step: Option<u64>,
        need: u32,
    ) -> Gate {
        let counted = self.ledger.endorsers.get(id);
        if counted.is_some_and(|l| l.contains(&approver)) {
            let so_far = self.ledger.so_far(id);
            let who = approver;
            return Gate::Hold(Refusal::AlreadyCounted { who, need, so_far });
        }
        let kind = EventKind::Endorsed {
            approver,
            gesture: gesture.clone(),
            totp_step,
            of: need,
        };
        self.push(step, now, id, by, kind);
        let have = self.ledger.endorsers.get(id).map_or(0, Vec::len);
        if have >= need as usize {
            return Gate::Approve;
        }
        step.effects.push(Effect::WriteNote {
            id: id.to_string(),
            adopt: None,
        });
        let so_far = self.ledger.so_far(id);
        Gate::Hold(Refusal::Counted { have, need, so_far })
    }

    /// After an approval whose handler will run: hold it for the rule's
    /// undo window, if it has one. `true`: held (the handler waits).
    pub(super) fn hold(&mut self, step: &mut Step, now: Timestamp, id: &str) -> bool {
        let rule = self.requests[id].sub.rule.clone();
        let grace = self.config.rule_trust(rule.as_deref()).grace;
        if grace.is_zero() {
            return false;
        }
        let d = jiff::SignedDuration::try_from(grace).unwrap_or(jiff::SignedDuration::MAX);
        let until = now.checked_add(d).unwrap_or(Timestamp::MAX);
        self.push(step, now, id, &Actor::Hitl, EventKind::Held { until });
        self.deadlines.insert((until, id.to_string()));
        true
    }

    /// An approved request in its undo window, if `id` is one.
    pub(super) fn in_window(&self, id: &str) -> bool {
        matches!(
            self.requests.get(id).map(|r| &r.status),
            Some(Status::ApprovedToRun { .. })
        ) && self.ledger.held_until(id).is_some()
    }

    /// Reverses an approval in its undo window: the handler never runs. A
    /// rejection carries its reason (`Some`); a cancel has none.
    pub(super) fn revoke(
        &mut self,
        step: &mut Step,
        now: Timestamp,
        id: Id,
        by: &Actor,
        rejection: Option<Option<String>>,
        gesture: Gesture,
    ) -> Id {
        if let Some(until) = self.ledger.held_until(&id) {
            self.deadlines.remove(&(until, id.clone()));
        }
        let kind = EventKind::Revoked {
            cancelled: rejection.is_none(),
            reason: rejection.flatten(),
            gesture,
        };
        self.push(step, now, &id, by, kind);
        step.effects.push(Effect::WriteNote {
            id: id.clone(),
            adopt: None,
        });
        id
    }

    /// A deadline `at` that is an undo window's, not an expiry: `true` when
    /// it was handled here (the handler starts, or the window had ended
    /// otherwise and its entry goes).
    pub(super) fn window_ended(
        &mut self,
        step: &mut Step,
        now: Timestamp,
        at: Timestamp,
        id: &str,
    ) -> bool {
        if self.in_window(id) {
            self.release(step, now, id);
            return true;
        }
        if self
            .requests
            .get(id)
            .is_none_or(|r| r.status != Status::Pending)
        {
            self.deadlines.remove(&(at, id.to_string()));
            return true;
        }
        false
    }

    /// An undo window ended: the handler starts.
    pub(super) fn release(&mut self, step: &mut Step, now: Timestamp, id: &str) {
        if let Some(until) = self.ledger.held_until(id) {
            self.deadlines.remove(&(until, id.to_string()));
        }
        self.start_handler(step, now, id);
        step.effects.push(Effect::WriteNote {
            id: id.to_string(),
            adopt: None,
        });
    }
}
