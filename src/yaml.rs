//! YAML reading with the vault's safety rules: no anchors or aliases, no
//! duplicate keys, a bounded parse budget, and errors that carry the line and
//! column. Used for both the config and note frontmatter.

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A YAML error with its position (1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_aliases = 0;
    budget.max_anchors = 0;
    budget.max_depth = 64;
    budget.max_nodes = 100_000;
    let mut opts = serde_saphyr::Options::default();
    opts.budget = Some(budget);
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    opts.with_snippet = false;
    opts
}

pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let message = e.to_string();
        // The library's message may repeat the position; keep the first line only.
        let message = message.lines().next().unwrap_or_default().to_string();
        YamlError {
            line,
            column,
            message,
        }
    })
}

/// A YAML mapping with its key order kept, values as JSON values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderedMap(pub Vec<(String, Value)>);

impl OrderedMap {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A key's value as text, for scalar values (strings, numbers, bools).
    pub fn text(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for OrderedMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of properties")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedMap, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
            fn visit_unit<E>(self) -> Result<OrderedMap, E> {
                Ok(OrderedMap::default())
            }
            fn visit_none<E>(self) -> Result<OrderedMap, E> {
                Ok(OrderedMap::default())
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order() {
        let m: OrderedMap = from_str("b: 1\na: two\nc: [1, 2]\n").unwrap();
        let keys: Vec<_> = m.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(m.text("a").as_deref(), Some("two"));
    }

    #[test]
    fn rejects_duplicate_keys_with_position() {
        let e = from_str::<OrderedMap>("status: pending\nx: 1\nstatus: approved\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn rejects_aliases() {
        assert!(from_str::<OrderedMap>("a: &x 1\nb: *x\n").is_err());
    }

    #[test]
    fn timestamps_stay_text() {
        let m: OrderedMap = from_str("created: 2026-01-07T10:30:00Z\namount: 500.00\n").unwrap();
        assert_eq!(m.text("created").as_deref(), Some("2026-01-07T10:30:00Z"));
        assert_eq!(m.get("amount").and_then(|v| v.as_f64()), Some(500.0));
    }

    #[test]
    fn malformed_yaml_reports_a_line() {
        let e = from_str::<OrderedMap>("a: 1\nb: [unclosed\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
    }
}
