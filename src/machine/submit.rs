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
        if self.requests.contains_key(&nr.id) {
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
            payload: nr.payload,
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
        };
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
