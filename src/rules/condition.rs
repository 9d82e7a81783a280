//! `when:` maps compiled into [`Condition`]s, and their evaluation in three
//! values: a condition holds, fails, or can't be read. Rules fail closed on
//! the third.

use regex::Regex;
use serde_json::{Map, Value};

use crate::payload::{lookup, loose_eq};

/// A compiled `when:` map: the action type patterns and the payload tests.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    types: Vec<String>,
    fields: Vec<(String, Vec<Test>)>,
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

/// What a condition says about an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Truth {
    Holds,
    Fails,
    /// A payload field it tests could not be read.
    Unknown(Unreadable),
}

/// A payload field a condition could not read, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    /// The dotted path, as the rule names it.
    pub field: String,
    pub why: String,
    /// The field is absent (or null), rather than present and unreadable.
    pub missing: bool,
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
            cond.fields.push((key.clone(), compile_tests(key, spec)?));
        }
        Ok(cond)
    }

    /// Three-valued: a test that fails decides (`Fails`) even when another
    /// can't be read; otherwise a test that can't be read makes it `Unknown`.
    pub fn eval(&self, action: &str, payload: &Value) -> Truth {
        if !(self.types.is_empty() || self.types.iter().any(|p| glob_match(p, action))) {
            return Truth::Fails;
        }
        let mut unknown = None;
        for (field, tests) in &self.fields {
            let path: Vec<String> = field.split('.').map(String::from).collect();
            let value = lookup(payload, &path);
            for test in tests {
                match test.holds(value) {
                    Ok(true) => {}
                    Ok(false) => return Truth::Fails,
                    Err(why) => {
                        unknown.get_or_insert(Unreadable {
                            field: field.clone(),
                            why,
                            missing: value.is_none_or(Value::is_null),
                        });
                    }
                }
            }
        }
        unknown.map_or(Truth::Holds, Truth::Unknown)
    }

    /// Whether the condition certainly holds.
    pub fn matches(&self, action: &str, payload: &Value) -> bool {
        self.eval(action, payload) == Truth::Holds
    }
}

fn compile_tests(key: &str, spec: &Value) -> Result<Vec<Test>, ConditionError> {
    let Value::Object(ops) = spec else {
        return Ok(vec![Test::Eq(spec.clone())]);
    };
    let number = |op: &str, v: &Value| {
        read_number(Some(v)).map_err(|_| cond_err(key, format!("`{op}` needs a number, got {v}")))
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
    /// `Err` says why the test can't be decided on this value. A test that
    /// asks for a value (`eq`, `in`, `matches`) simply fails on a missing
    /// one; a negative test (`ne`, `not_in`) or a comparison can't tell.
    fn holds(&self, value: Option<&Value>) -> Result<bool, String> {
        let present = value.filter(|v| !v.is_null());
        let missing = || Err("it is missing".to_string());
        Ok(match self {
            Test::Exists(want) => present.is_some() == *want,
            Test::Eq(x) => value.is_some_and(|v| loose_eq(v, x)),
            Test::In(xs) => value.is_some_and(|v| xs.iter().any(|x| loose_eq(v, x))),
            Test::Ne(x) => match present {
                None => return missing(),
                Some(v) => !loose_eq(v, x),
            },
            Test::NotIn(xs) => match present {
                None => return missing(),
                Some(v) => !xs.iter().any(|x| loose_eq(v, x)),
            },
            Test::Gt(x) => read_number(present)? > *x,
            Test::Gte(x) => read_number(present)? >= *x,
            Test::Lt(x) => read_number(present)? < *x,
            Test::Lte(x) => read_number(present)? <= *x,
            Test::Matches(re) => value.is_some_and(|v| match v {
                Value::String(s) => re.is_match(s),
                other => re.is_match(&other.to_string()),
            }),
        })
    }
}

/// A payload value as a number for a comparison: a JSON number, or a string
/// that is a plain decimal number. Thousands separators, currency signs,
/// `NaN` and infinities are not guessed at.
fn read_number(value: Option<&Value>) -> Result<f64, String> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars().any(|c| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
    };
    match value {
        None => Err("it is missing".into()),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| format!("{n} is out of range")),
        Some(Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(n) if plain(s.trim()) && n.is_finite() => Ok(n),
            _ => Err(format!(
                "{} is not a plain number (separators, currency signs and words are not guessed at)",
                Value::String(shorten(s))
            )),
        },
        Some(Value::Bool(b)) => Err(format!("{b} is not a number")),
        Some(Value::Array(_)) => Err("it is a list, not a number".into()),
        Some(Value::Object(_)) => Err("it is an object, not a number".into()),
        Some(Value::Null) => Err("it is null".into()),
    }
}

/// A hostile value is quoted in a note: keep it short.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        s.chars().take(37).collect::<String>() + "..."
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
        for bad in [json!("NaN"), json!("1,000"), json!([1])] {
            let e = Condition::compile(json!({"amount": {"gte": bad}}).as_object().unwrap());
            assert!(e.is_err(), "{bad}");
        }
        let e = Condition::compile(json!({"x": {"like": 1}}).as_object().unwrap()).unwrap_err();
        assert!(e.to_string().contains("unknown operator `like`"), "{e}");
    }

    #[test]
    fn conditions_that_cannot_be_read_are_unknown_not_false() {
        let p = json!({
            "sep": "50,000", "cur": "$50000", "nan": "NaN", "inf": "inf", "word": "lots",
            "list": [1, 2], "obj": {"a": 1}, "yes": true, "null": null,
            "plain": "500.00", "num": 500,
        });
        let cases = [
            (
                json!({"sep": {"gt": 10}}),
                "sep",
                "not a plain number",
                false,
            ),
            (
                json!({"cur": {"gte": 500}}),
                "cur",
                "not a plain number",
                false,
            ),
            (
                json!({"nan": {"lt": 1}}),
                "nan",
                "not a plain number",
                false,
            ),
            (
                json!({"inf": {"gt": 1}}),
                "inf",
                "not a plain number",
                false,
            ),
            (
                json!({"word": {"lte": 1}}),
                "word",
                "not a plain number",
                false,
            ),
            (json!({"list": {"gt": 1}}), "list", "a list", false),
            (json!({"obj": {"gt": 1}}), "obj", "an object", false),
            (json!({"yes": {"gt": 0}}), "yes", "not a number", false),
            (json!({"gone": {"gt": 1}}), "gone", "missing", true),
            (json!({"null": {"gt": 1}}), "null", "missing", true),
            (json!({"gone": {"ne": "x"}}), "gone", "missing", true),
            (json!({"gone": {"not_in": ["x"]}}), "gone", "missing", true),
            (json!({"a.b.c": {"lt": 1}}), "a.b.c", "missing", true),
        ];
        for (when, field, why, missing) in cases {
            match cond(when.clone()).eval("payment", &p) {
                Truth::Unknown(u) => {
                    assert_eq!((u.field.as_str(), u.missing), (field, missing), "{when}");
                    assert!(u.why.contains(why), "{when}: {}", u.why);
                }
                other => panic!("{when}: {other:?}"),
            }
        }
        let known = [
            (json!({"plain": {"gte": 500}}), Truth::Holds),
            (json!({"num": {"gt": 499.5}}), Truth::Holds),
            (json!({"gone": {"exists": false}}), Truth::Holds),
            (json!({"gone": "x"}), Truth::Fails),
            (json!({"gone": {"in": ["x"]}}), Truth::Fails),
            (json!({"sep": {"ne": "x"}}), Truth::Holds),
            // A test that fails decides, whatever else can't be read.
            (json!({"sep": {"gt": 1}, "num": {"lt": 10}}), Truth::Fails),
            (json!({"type": "refund", "sep": {"gt": 1}}), Truth::Fails),
        ];
        for (when, want) in known {
            assert_eq!(cond(when.clone()).eval("payment", &p), want, "{when}");
        }
    }
}
