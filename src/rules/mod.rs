//! Rules: which decision an action gets (`auto`, `require`, `deny`) and which
//! risk signals it raises.
//!
//! Conditions come from the config as plain YAML maps and are compiled once,
//! at load time, into [`Condition`]s; nothing downstream re-checks them.
//!
//! Rules fail closed. A condition that can't be evaluated (a comparison on
//! `"50,000"`, a list, a missing field) is neither true nor false: the rule
//! is passed over, but the evaluation is tainted, so a later `auto` rule or
//! an `auto` default becomes `require` (a later `deny` still denies), and a
//! high risk signal names the field and why it could not be read.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod condition;
mod reason;

pub use condition::{Condition, ConditionError, Truth, Unreadable, glob_match};
pub use reason::ReasonPolicy;

/// What a decision rule (or the default) says about an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Runs without asking; still journaled.
    Auto,
    /// A human must approve.
    Require,
    /// Rejected at once.
    Deny,
}

/// How risky a request is: the highest level among the signals that fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    #[default]
    Low,
    Medium,
    High,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub when: Condition,
    pub decision: Verdict,
    pub timeout: Option<Duration>,
    /// This rule's reason policy; `None`: the config's.
    pub reason: Option<ReasonPolicy>,
    /// Its approval code, quorum and undo window.
    pub trust: crate::config::trust::RuleTrust,
    /// What `hitl hook` answers when this `auto` rule lets a tool call run.
    pub hook: HookAnswer,
}

/// What `hitl hook` tells the harness when an `auto` rule decided: by
/// default nothing (the harness's own permission flow goes on); `allow`
/// lets the call run without the harness asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HookAnswer {
    #[default]
    Abstain,
    Allow,
}

#[derive(Debug, Clone)]
pub struct RiskSignal {
    pub when: Condition,
    pub level: Risk,
    pub says: String,
}

/// What the rules say about one action.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The deciding rule's name; `None` when the default applied.
    pub rule: Option<String>,
    pub verdict: Verdict,
    pub timeout: Option<Duration>,
    pub risk: Risk,
    /// Every risk signal that matched, as "level: says".
    pub signals: Vec<(Risk, String)>,
    /// The deciding rule (or default) said `auto`, but a rule before it
    /// could not be evaluated: a human decides instead.
    pub held: bool,
}

/// The first rule whose condition holds decides. A rule whose condition
/// can't be evaluated is passed over but taints the result: an `auto`
/// verdict after it becomes `require`.
pub fn assess(
    rules: &[Rule],
    default: Verdict,
    risk: &[RiskSignal],
    action: &str,
    payload: &Value,
) -> Assessment {
    let mut unread = Unread::default();
    let mut deciding = None;
    for rule in rules {
        match rule.when.eval(action, payload) {
            Truth::Holds => {
                deciding = Some(rule);
                break;
            }
            Truth::Fails => {}
            Truth::Unknown(u) => unread.add(u, HeldUp::Rule(&rule.name)),
        }
    }
    let mut signals = Vec::new();
    for s in risk {
        match s.when.eval(action, payload) {
            Truth::Holds => signals.push((s.level, s.says.clone())),
            Truth::Fails => {}
            // A risk signal on a field the action doesn't have is no signal;
            // a field that is there but unreadable is one.
            Truth::Unknown(u) if u.missing => {}
            Truth::Unknown(u) => unread.add(u, HeldUp::Signal(&s.says)),
        }
    }
    let mut verdict = deciding.map_or(default, |r| r.decision);
    let held = unread.tainted && verdict == Verdict::Auto;
    if held {
        verdict = Verdict::Require;
    }
    signals.extend(unread.signals());
    Assessment {
        rule: deciding.map(|r| r.name.clone()),
        verdict,
        timeout: deciding.and_then(|r| r.timeout),
        risk: signals.iter().map(|(l, _)| *l).max().unwrap_or_default(),
        signals,
        held,
    }
}

/// A rule or risk signal that a field it could not read held up.
#[derive(Clone, Copy)]
enum HeldUp<'a> {
    Rule(&'a str),
    Signal(&'a str),
}

impl std::fmt::Display for HeldUp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeldUp::Rule(name) => write!(f, "rule `{name}`"),
            HeldUp::Signal(says) => write!(f, "risk signal \"{says}\""),
        }
    }
}

/// The fields conditions could not read, each with what it held up.
#[derive(Default)]
struct Unread<'a> {
    /// A decision rule could not be evaluated.
    tainted: bool,
    /// (field, why, what it held up), in order of finding.
    fields: Vec<(String, String, Vec<HeldUp<'a>>)>,
}

impl<'a> Unread<'a> {
    fn add(&mut self, u: Unreadable, held_up: HeldUp<'a>) {
        self.tainted |= matches!(held_up, HeldUp::Rule(_));
        match self
            .fields
            .iter_mut()
            .find(|(f, why, _)| *f == u.field && *why == u.why)
        {
            Some((_, _, list)) => list.push(held_up),
            None => self.fields.push((u.field, u.why, vec![held_up])),
        }
    }

    /// One high risk signal per field.
    fn signals(&self) -> impl Iterator<Item = (Risk, String)> + '_ {
        self.fields.iter().map(|(field, why, held_up)| {
            let names: Vec<String> = held_up.iter().map(ToString::to_string).collect();
            let mut says = format!(
                "`{field}` could not be read: {why}; {} could not be evaluated",
                names.join(", ")
            );
            if held_up.iter().any(|h| matches!(h, HeldUp::Rule(_))) {
                says.push_str(", so no rule approves this without a human");
            }
            (Risk::High, says)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(v: Value) -> Condition {
        Condition::compile(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn first_rule_decides_and_risk_is_the_highest_signal() {
        let rules = vec![
            Rule {
                name: "huge".into(),
                when: cond(json!({"amount": {"gt": 10000}})),
                decision: Verdict::Deny,
                timeout: None,
                reason: None,
                trust: Default::default(),
                hook: HookAnswer::Abstain,
            },
            Rule {
                name: "large".into(),
                when: cond(json!({"amount": {"gte": 500}})),
                decision: Verdict::Require,
                timeout: Some(Duration::from_secs(3600)),
                reason: None,
                trust: Default::default(),
                hook: HookAnswer::Abstain,
            },
        ];
        let risk = vec![
            RiskSignal {
                when: cond(json!({"amount": {"gt": 1000}})),
                level: Risk::High,
                says: "High".into(),
            },
            RiskSignal {
                when: cond(json!({"amount": {"gt": 100}})),
                level: Risk::Medium,
                says: "Medium".into(),
            },
        ];
        let a = assess(
            &rules,
            Verdict::Auto,
            &risk,
            "payment",
            &json!({"amount": 1500}),
        );
        assert_eq!(a.rule.as_deref(), Some("large"));
        assert_eq!(a.verdict, Verdict::Require);
        assert_eq!(a.risk, Risk::High);
        assert_eq!(a.signals.len(), 2);
        let a = assess(
            &rules,
            Verdict::Auto,
            &risk,
            "payment",
            &json!({"amount": 5}),
        );
        assert_eq!(
            (a.rule, a.verdict, a.risk),
            (None, Verdict::Auto, Risk::Low)
        );
    }

    /// The rules and risk signals from the design's example.
    const DESIGN_RULES: &str = include_str!("../../tests/fixtures/design-rules.yaml");

    fn design(action: &str, payload: Value) -> Assessment {
        let c = crate::config::Config::parse(DESIGN_RULES, "test").unwrap();
        assess(&c.rules, c.default, &c.risk, action, &payload)
    }

    #[test]
    fn unreadable_amounts_never_let_a_later_auto_rule_approve() {
        for amount in [
            json!("50,000"),
            json!("$50000"),
            json!("NaN"),
            json!([50000]),
            json!({"value": 50000}),
            json!(null),
        ] {
            let a = design("payment", json!({ "amount": amount, "to": "x" }));
            assert_eq!(a.verdict, Verdict::Require, "{amount}");
            assert_eq!(a.risk, Risk::High, "{amount}");
            let says = a
                .signals
                .iter()
                .map(|(_, s)| s.as_str())
                .collect::<Vec<_>>();
            assert!(
                says.iter()
                    .any(|s| s.starts_with("`amount` could not be read")
                        && s.contains("rule `huge-payment`, rule `large-payment`")),
                "{amount}: {says:?}"
            );
        }
        let a = design("payment", json!({"to": "x"}));
        assert_eq!(a.verdict, Verdict::Require, "a missing amount");
        assert!(a.signals[0].1.contains("it is missing"), "{:?}", a.signals);
    }

    #[test]
    fn readable_amounts_decide_as_before() {
        let cases = [
            (json!(50000), Verdict::Deny, Some("huge-payment")),
            (json!("50000"), Verdict::Deny, Some("huge-payment")),
            (json!(1500), Verdict::Require, Some("large-payment")),
            (json!("500.00"), Verdict::Require, Some("large-payment")),
            (json!(5), Verdict::Auto, Some("small-payment")),
        ];
        for (amount, verdict, rule) in cases {
            let a = design("payment", json!({ "amount": amount }));
            assert_eq!((a.verdict, a.rule.as_deref()), (verdict, rule), "{amount}");
            assert!(
                a.signals
                    .iter()
                    .all(|(_, s)| !s.contains("could not be read")),
                "{amount}: {:?}",
                a.signals
            );
        }
    }

    #[test]
    fn a_later_deny_still_denies_and_unrelated_actions_are_untouched() {
        let c = crate::config::Config::parse(
            "rules:\n  - { name: big, when: { amount: { gt: 10 } }, decision: require }\n  - { name: no-bots, when: { by: bot }, decision: deny }\ndefault: auto\nrisk: []\n",
            "test",
        )
        .unwrap();
        let a = assess(
            &c.rules,
            c.default,
            &c.risk,
            "x",
            &json!({"amount": "1,000", "by": "bot"}),
        );
        assert_eq!(
            (a.verdict, a.rule.as_deref()),
            (Verdict::Deny, Some("no-bots"))
        );
        let a = assess(
            &c.rules,
            c.default,
            &c.risk,
            "x",
            &json!({"amount": "1,000"}),
        );
        assert_eq!(
            (a.verdict, a.rule),
            (Verdict::Require, None),
            "the auto default is held"
        );
        // The design's rules on an action with no amount: its type settles
        // them, and a risk signal on a field it doesn't have is no signal.
        let a = design("deploy", json!({"environment": "staging"}));
        assert_eq!((a.verdict, a.risk), (Verdict::Require, Risk::Low));
        assert!(a.signals.is_empty(), "{:?}", a.signals);
        // A present but unreadable field in a risk signal is itself a signal.
        let a = design("deploy", json!({"amount": "1,5"}));
        assert!(
            a.signals
                .iter()
                .any(|(l, s)| *l == Risk::High && s.contains("risk signal \"High value payment\"")),
            "{:?}",
            a.signals
        );
    }
}
