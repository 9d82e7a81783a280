//! Accepting a request: the rules decide, the payload is frozen and hashed,
//! the deadline is set.

use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;

use super::{Effect, Machine, NewRequest, Refusal, Step};
use crate::payload;
use crate::request::{Actor, EventKind, Gesture, Id, Signal, Submission};
use crate::rules::{Verdict, assess};

impl Machine {
    pub(crate) fn submit(
        &mut self,
        step: &mut Step,
        nr: NewRequest,
        now: Timestamp,
        adopt: Option<(PathBuf, Vec<String>)>,
    ) -> Result<Id, Refusal> {
        validate_action(&nr.action)?;
        if payload::depth(&nr.payload) > payload::MAX_DEPTH {
            return Err(Refusal::TooDeep(payload::MAX_DEPTH));
        }
        if let Some(id) = self.keyed(&nr)? {
            return Ok(id);
        }
        if self.knows(&nr.id) {
            return Err(Refusal::IdTaken(nr.id));
        }
        let c = &self.config;
        let a = assess(&c.rules, c.default, &c.risk, &nr.action, &nr.payload);
        let expires = deadline(now, a.timeout.unwrap_or(c.timeout), nr.timeout, nr.expires);
        let id = nr.id.clone();
        let sub = Submission {
            payload_sha256: payload::sha256(&nr.payload),
            summary: nr
                .summary
                .clone()
                .unwrap_or_else(|| payload::default_summary(&nr.action, &nr.payload)),
            file_name: nr
                .file_name
                .clone()
                .unwrap_or_else(|| format!("{}-{}.md", nr.action, id)),
            action: nr.action,
            payload: nr.payload.into(),
            rationale: nr.rationale,
            requested_by: nr.requested_by.clone(),
            created: now,
            expires,
            risk: a.risk,
            signals: a
                .signals
                .into_iter()
                .map(|(level, says)| Signal { level, says })
                .collect(),
            rule: a.rule.clone(),
            source: nr.source,
            drop_in_sha256: nr.drop_in_sha256,
            notify_requester: nr.notify_requester,
            key: nr.key.clone(),
        };
        if let Some(key) = nr.key {
            self.idem_keys.insert(key, id.clone());
        }
        self.push(
            step,
            now,
            &id,
            &Actor::from(nr.requested_by.clone()),
            EventKind::Submitted(Box::new(sub)),
        );
        self.deadlines.insert((expires, id.clone()));
        let rule_actor = Actor::Rule(a.rule.clone().unwrap_or_else(|| "default".into()));
        match a.verdict {
            Verdict::Require => {
                if let Some(send) = self.codes_to_send(&id) {
                    step.effects.push(send);
                }
            }
            Verdict::Deny => {
                let reason = Some(format!("denied by {rule_actor}"));
                let kind = EventKind::Rejected {
                    reason,
                    gesture: Gesture::Rule,
                };
                self.finish_pending(step, now, &id, &rule_actor, kind);
            }
            Verdict::Auto => self.approve(step, now, &id, &rule_actor, None, &Gesture::Rule),
        }
        step.effects.push(Effect::WriteNote {
            id: id.clone(),
            adopt,
        });
        Ok(id)
    }
}

impl Machine {
    /// The request a keyed submit is answered with: the one its key names,
    /// if it is the same requester's, with the same action and payload.
    /// Nothing else may take the key (an agent can't borrow another
    /// request's decision by naming its key); `None`: the key is new.
    fn keyed(&self, nr: &NewRequest) -> Result<Option<Id>, Refusal> {
        let Some(key) = &nr.key else {
            return Ok(None);
        };
        let Some(r) = self.idem_keys.get(key).and_then(|id| self.requests.get(id)) else {
            return self.keyed_settled(nr, key);
        };
        let why = if r.sub.requested_by != nr.requested_by {
            "another requester made"
        } else if r.sub.action != nr.action {
            "is for another action"
        } else if r.sub.payload_sha256 != payload::sha256(&nr.payload) {
            "has another payload"
        } else {
            tracing::info!(request = %r.id, key, "keyed submit answered with its earlier request");
            return Ok(Some(r.id.clone()));
        };
        tracing::warn!(request = %r.id, key, why, "keyed submit refused");
        Err(Refusal::KeyTaken {
            id: r.id.clone(),
            why,
        })
    }
}

impl Machine {
    /// [`Machine::keyed`] for a key of a settled request (kept as hashes).
    fn keyed_settled(&self, nr: &NewRequest, key: &str) -> Result<Option<Id>, Refusal> {
        let sha = payload::sha256(&nr.payload);
        let Some((id, why)) = self.settled_key(key, &nr.requested_by, &nr.action, &sha) else {
            return Ok(None);
        };
        match why {
            None => {
                tracing::info!(request = %id, key, "keyed submit answered with its earlier request");
                Ok(Some(id))
            }
            Some(why) => {
                tracing::warn!(request = %id, key, why, "keyed submit refused");
                Err(Refusal::KeyTaken { id, why })
            }
        }
    }
}

/// The request's deadline: the requester may ask for less time than the
/// rule's (or, without one, the config's) limit, never for more, whether as
/// a timeout or as an absolute `expires`.
fn deadline(
    now: Timestamp,
    limit: Duration,
    timeout: Option<Duration>,
    expires: Option<Timestamp>,
) -> Timestamp {
    let latest = add(now, limit);
    let wanted = match (timeout, expires) {
        (Some(t), Some(e)) => add(now, t).min(e),
        (Some(t), None) => add(now, t),
        (None, Some(e)) => e,
        (None, None) => latest,
    };
    wanted.min(latest)
}

fn add(now: Timestamp, d: Duration) -> Timestamp {
    let d = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    now.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn validate_action(action: &str) -> Result<(), Refusal> {
    let ok = !action.is_empty()
        && action.len() <= 64
        && action
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Refusal::NotAnAction(action.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requesters_deadline_never_exceeds_the_limit() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let hour = Duration::from_secs(3600);
        let at = |secs: i64| {
            now.checked_add(jiff::SignedDuration::from_secs(secs))
                .unwrap()
        };
        let far: Timestamp = "2999-01-01T00:00:00Z".parse().unwrap();
        let cases = [
            (None, None, at(3600)),
            (Some(Duration::from_secs(60)), None, at(60)),
            (Some(Duration::from_secs(86_400 * 365)), None, at(3600)),
            (None, Some(far), at(3600)),
            (None, Some(at(600)), at(600)),
            (Some(Duration::from_secs(60)), Some(far), at(60)),
            (Some(Duration::MAX), None, at(3600)),
        ];
        for (timeout, expires, want) in cases {
            assert_eq!(
                deadline(now, hour, timeout, expires),
                want,
                "{timeout:?} {expires:?}"
            );
        }
    }
}

#[cfg(test)]
mod key_tests {
    use serde_json::json;

    use super::super::tests::{machine, names, new, t};
    use super::*;
    use crate::machine::Input;

    fn keyed(id: &str, payload: serde_json::Value, by: &str) -> Input {
        let mut nr = new(id, "claude-code.Bash", payload);
        nr.key = Some("hook:claude-code:k1".into());
        nr.requested_by = by.into();
        Input::Submit(nr)
    }

    #[test]
    fn a_keyed_resubmit_is_answered_with_its_request_also_after_a_restart() {
        let mut m = machine();
        let first = m.handle(
            keyed("a00000000001", json!({"command": "ls"}), "cli:me"),
            t(0),
        );
        assert_eq!(first.reply, Some(Ok("a00000000001".into())));
        let again = m.handle(
            keyed("a00000000002", json!({"command": "ls"}), "cli:me"),
            t(1),
        );
        assert_eq!(again.reply, Some(Ok("a00000000001".into())));
        assert!(names(&again).is_empty() && again.effects.is_empty());
        // The key is journaled with the submission: a replay knows it.
        let events: Vec<_> = first.events.clone();
        let mut m = Machine::replay(m.config().clone(), &events).unwrap();
        let again = m.handle(
            keyed("a00000000003", json!({"command": "ls"}), "cli:me"),
            t(2),
        );
        assert_eq!(again.reply, Some(Ok("a00000000001".into())));
        // An old journal line without a key still loads.
        let mut line = serde_json::to_value(&events[0].kind).unwrap();
        line["details"].as_object_mut().unwrap().remove("key");
        let kind: crate::request::EventKind = serde_json::from_value(line).unwrap();
        let EventKind::Submitted(sub) = kind else {
            panic!()
        };
        assert_eq!(sub.key, None);
    }

    #[test]
    fn a_key_reused_with_another_payload_action_or_requester_is_refused() {
        let mut m = machine();
        m.handle(
            keyed("a00000000001", json!({"command": "ls"}), "cli:me"),
            t(0),
        );
        let other_payload = keyed("a00000000002", json!({"command": "rm -rf /"}), "cli:me");
        let other_requester = keyed("a00000000003", json!({"command": "ls"}), "cli:eve");
        let Input::Submit(mut nr) = keyed("a00000000004", json!({"command": "ls"}), "cli:me")
        else {
            panic!()
        };
        nr.action = "claude-code.Write".into();
        for input in [other_payload, other_requester, Input::Submit(nr)] {
            let step = m.handle(input, t(1));
            assert!(
                matches!(step.reply, Some(Err(Refusal::KeyTaken { ref id, .. })) if id == "a00000000001"),
                "{:?}",
                step.reply
            );
            assert!(step.events.is_empty());
        }
        assert_eq!(m.requests().len(), 1);
    }
}
