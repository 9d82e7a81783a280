//! Rules: which decision an action gets (`auto`, `require`, `deny`) and which
//! risk signals it raises.
//!
//! Conditions come from the config as plain YAML maps and are compiled once,
//! at load time, into [`Condition`]s; nothing downstream re-checks them.

use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::payload::{as_number, lookup, loose_eq};

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
}

#[derive(Debug, Clone)]
pub struct RiskSignal {
    pub when: Condition,
    pub level: Risk,
    pub says: String,
}

/// A compiled `when:` map: the action type patterns and the payload tests.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    types: Vec<String>,
    fields: Vec<(Vec<String>, Vec<Test>)>,
}

#[derive(Debug, Clone)]
enum Test {
    Eq(Value),
    Ne(Value),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Matches(Regex),
    Exists(bool),
}

/// Why a `when:` map could not be compiled; `field` names the offending key.
#[derive(Debug, thiserror::Error)]
#[error("`{field}`: {problem}")]
pub struct ConditionError {
    pub field: String,
    pub problem: String,
}

fn cond_err(field: &str, problem: impl Into<String>) -> ConditionError {
    ConditionError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

impl Condition {
    pub fn compile(when: &Map<String, Value>) -> Result<Self, ConditionError> {
        let mut cond = Condition::default();
        for (key, spec) in when {
            if key == "type" || key == "action" {
                cond.types = match spec {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map(String::from))
                        .collect::<Option<_>>()
                        .ok_or_else(|| cond_err(key, "a list of action types must hold strings"))?,
                    _ => return Err(cond_err(key, "expected an action type or a list of them")),
                };
                continue;
            }
            let path = key.split('.').map(String::from).collect();
            cond.fields.push((path, compile_tests(key, spec)?));
        }
        Ok(cond)
    }

    pub fn matches(&self, action: &str, payload: &Value) -> bool {
        let type_ok = self.types.is_empty() || self.types.iter().any(|p| glob_match(p, action));
        type_ok
            && self
                .fields
                .iter()
                .all(|(path, tests)| tests.iter().all(|t| t.holds(lookup(payload, path))))
    }
}

fn compile_tests(key: &str, spec: &Value) -> Result<Vec<Test>, ConditionError> {
    let Value::Object(ops) = spec else {
        return Ok(vec![Test::Eq(spec.clone())]);
    };
    let number = |op: &str, v: &Value| {
        as_number(v).ok_or_else(|| cond_err(key, format!("`{op}` needs a number, got {v}")))
    };
    let list = |op: &str, v: &Value| match v {
        Value::Array(items) => Ok(items.clone()),
        _ => Err(cond_err(key, format!("`{op}` needs a list"))),
    };
    ops.iter()
        .map(|(op, v)| {
            Ok(match op.as_str() {
                "eq" => Test::Eq(v.clone()),
                "ne" => Test::Ne(v.clone()),
                "gt" => Test::Gt(number(op, v)?),
                "gte" => Test::Gte(number(op, v)?),
                "lt" => Test::Lt(number(op, v)?),
                "lte" => Test::Lte(number(op, v)?),
                "in" => Test::In(list(op, v)?),
                "not_in" => Test::NotIn(list(op, v)?),
                "matches" => {
                    let pattern = v
                        .as_str()
                        .ok_or_else(|| cond_err(key, "`matches` needs a regular expression"))?;
                    Test::Matches(
                        Regex::new(pattern).map_err(|e| cond_err(key, format!("bad regex: {e}")))?,
                    )
                }
                "exists" => Test::Exists(
                    v.as_bool()
                        .ok_or_else(|| cond_err(key, "`exists` needs true or false"))?,
                ),
                other => {
                    return Err(cond_err(
                        key,
                        format!(
                            "unknown operator `{other}` (use eq ne gt gte lt lte in not_in matches exists)"
                        ),
                    ));
                }
            })
        })
        .collect()
}

impl Test {
    fn holds(&self, value: Option<&Value>) -> bool {
        let num = value.and_then(as_number);
        match self {
            Test::Exists(want) => value.is_some_and(|v| !v.is_null()) == *want,
            Test::Eq(x) => value.is_some_and(|v| loose_eq(v, x)),
            Test::Ne(x) => !value.is_some_and(|v| loose_eq(v, x)),
            Test::Gt(x) => num.is_some_and(|n| n > *x),
            Test::Gte(x) => num.is_some_and(|n| n >= *x),
            Test::Lt(x) => num.is_some_and(|n| n < *x),
            Test::Lte(x) => num.is_some_and(|n| n <= *x),
            Test::In(xs) => value.is_some_and(|v| xs.iter().any(|x| loose_eq(v, x))),
            Test::NotIn(xs) => !value.is_some_and(|v| xs.iter().any(|x| loose_eq(v, x))),
            Test::Matches(re) => value.is_some_and(|v| match v {
                Value::String(s) => re.is_match(s),
                other => re.is_match(&other.to_string()),
            }),
        }
    }
}

/// Shell-style glob with `*` and `?`, anchored at both ends.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
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
}

pub fn assess(
    rules: &[Rule],
    default: Verdict,
    risk: &[RiskSignal],
    action: &str,
    payload: &Value,
) -> Assessment {
    let deciding = rules.iter().find(|r| r.when.matches(action, payload));
    let signals: Vec<(Risk, String)> = risk
        .iter()
        .filter(|s| s.when.matches(action, payload))
        .map(|s| (s.level, s.says.clone()))
        .collect();
    Assessment {
        rule: deciding.map(|r| r.name.clone()),
        verdict: deciding.map_or(default, |r| r.decision),
        timeout: deciding.and_then(|r| r.timeout),
        risk: signals.iter().map(|(l, _)| *l).max().unwrap_or_default(),
        signals,
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
    fn globs() {
        assert!(glob_match("*delete*", "user_delete"));
        assert!(glob_match("*delete*", "delete"));
        assert!(!glob_match("*delete*", "payment"));
        assert!(glob_match("pay?ent", "payment"));
        assert!(glob_match("payment", "payment"));
        assert!(!glob_match("payment", "payments"));
    }

    #[test]
    fn operators_table() {
        let p = json!({"amount": 500, "env": "production", "to": {"iban": "DE12"}});
        let cases = [
            (json!({"amount": {"gte": 500}}), true),
            (json!({"amount": {"gt": 500}}), false),
            (json!({"amount": {"lt": 500.5, "gt": 499}}), true),
            (json!({"amount": {"lte": 499}}), false),
            (json!({"env": "production"}), true),
            (json!({"env": {"ne": "production"}}), false),
            (json!({"env": {"in": ["staging", "production"]}}), true),
            (json!({"env": {"not_in": ["production"]}}), false),
            (json!({"to.iban": {"matches": "^DE"}}), true),
            (json!({"to.bic": {"exists": true}}), false),
            (json!({"to.bic": {"exists": false}}), true),
            (json!({"missing": {"gt": 1}}), false),
            (
                json!({"type": ["payment", "transfer"], "amount": {"gte": 500}}),
                true,
            ),
            (json!({"type": "*delete*"}), false),
        ];
        for (when, want) in cases {
            assert_eq!(cond(when.clone()).matches("payment", &p), want, "{when}");
        }
    }

    #[test]
    fn bad_conditions_name_the_field() {
        let e =
            Condition::compile(json!({"amount": {"gt": "lots"}}).as_object().unwrap()).unwrap_err();
        assert_eq!(e.field, "amount");
        let e = Condition::compile(json!({"x": {"like": 1}}).as_object().unwrap()).unwrap_err();
        assert!(e.to_string().contains("unknown operator `like`"), "{e}");
    }

    #[test]
    fn first_rule_decides_and_risk_is_the_highest_signal() {
        let rules = vec![
            Rule {
                name: "huge".into(),
                when: cond(json!({"amount": {"gt": 10000}})),
                decision: Verdict::Deny,
                timeout: None,
            },
            Rule {
                name: "large".into(),
                when: cond(json!({"amount": {"gte": 500}})),
                decision: Verdict::Require,
                timeout: Some(Duration::from_secs(3600)),
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
}
