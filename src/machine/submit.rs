//! Accepting a request: the rules decide, the payload is frozen and hashed,
//! the deadline is set.

use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;

use super::{Effect, Machine, NewRequest, Step};
use crate::payload;
use crate::request::{EventKind, Id, Signal, Submission};
use crate::rules::{Verdict, assess};

impl Machine {
    pub(crate) fn submit(
        &mut self,
        step: &mut Step,
        nr: NewRequest,
        now: Timestamp,
        adopt: Option<(PathBuf, Vec<String>)>,
    ) -> Result<Id, String> {
        validate_action(&nr.action)?;
        if self.requests.contains_key(&nr.id) {
            return Err(format!("request id {} is taken", nr.id));
        }
        let c = &self.config;
        let a = assess(&c.rules, c.default, &c.risk, &nr.action, &nr.payload);
        let timeout = match (nr.timeout, a.timeout) {
            (Some(mine), Some(rule)) => mine.min(rule),
            (mine, rule) => mine.or(rule).unwrap_or(c.timeout),
        };
        let expires = nr.expires.unwrap_or_else(|| add(now, timeout));
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
        };
        self.push(
            step,
            now,
            &id,
            &nr.requested_by,
            EventKind::Submitted(Box::new(sub)),
        );
        self.deadlines.insert((expires, id.clone()));
        let rule_actor = format!("rule:{}", a.rule.as_deref().unwrap_or("default"));
        match a.verdict {
            Verdict::Require => {}
            Verdict::Deny => {
                let reason = Some(format!("denied by {rule_actor}"));
                let kind = EventKind::Rejected {
                    reason,
                    gesture: "rule".into(),
                };
                self.finish_pending(step, now, &id, &rule_actor, kind);
            }
            Verdict::Auto => self.approve(step, now, &id, &rule_actor, None, "rule"),
        }
        step.effects.push(Effect::WriteNote {
            id: id.clone(),
            adopt,
        });
        Ok(id)
    }
}

fn add(now: Timestamp, d: Duration) -> Timestamp {
    let d = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    now.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn validate_action(action: &str) -> Result<(), String> {
    let ok = !action.is_empty()
        && action.len() <= 64
        && action
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{action}` is not an action type (letters, digits, _ - . only)"
        ))
    }
}
