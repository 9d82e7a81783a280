//! A JSON tree that keeps its objects' key order, so `hitl hook install`
//! writes a person's settings file back in the order they wrote it.
//! (serde_json's `preserve_order` would do it crate-wide, but the payload's
//! canonical form, and so every payload hash, relies on sorted keys.)

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// A JSON value; objects keep their keys in the order read or arranged.
#[derive(Debug, Clone, PartialEq)]
pub enum Ordered {
    Leaf(Value),
    Array(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

impl Ordered {
    /// The same value, with serde_json's (sorted) objects.
    pub fn to_value(&self) -> Value {
        match self {
            Ordered::Leaf(v) => v.clone(),
            Ordered::Array(items) => Value::Array(items.iter().map(Ordered::to_value).collect()),
            Ordered::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// `v`, with its objects' keys in the order `like` has them (keys `like`
    /// hasn't come after, in `v`'s order). An array's item is arranged like
    /// the item of `like` equal to it, if there is one.
    pub fn arrange(v: &Value, like: Option<&Ordered>) -> Ordered {
        match v {
            Value::Object(m) => {
                let old: &[(String, Ordered)] = match like {
                    Some(Ordered::Object(f)) => f,
                    _ => &[],
                };
                let kept = old.iter().filter(|(k, _)| m.contains_key(k));
                let keys: Vec<&String> = kept
                    .map(|(k, _)| k)
                    .chain(m.keys().filter(|k| !old.iter().any(|(o, _)| o == *k)))
                    .collect();
                let field = |k: &String| {
                    let like = old.iter().find(|(o, _)| o == k).map(|(_, v)| v);
                    (k.clone(), Ordered::arrange(&m[k.as_str()], like))
                };
                Ordered::Object(keys.into_iter().map(field).collect())
            }
            Value::Array(items) => {
                let old: &[Ordered] = match like {
                    Some(Ordered::Array(a)) => a,
                    _ => &[],
                };
                let item = |i: &Value| {
                    let like = old.iter().find(|o| o.to_value() == *i);
                    Ordered::arrange(i, like)
                };
                Ordered::Array(items.iter().map(item).collect())
            }
            leaf => Ordered::Leaf(leaf.clone()),
        }
    }
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ordered::Leaf(v) => v.serialize(s),
            Ordered::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            Ordered::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        d.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::Bool(b)))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::from(n)))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::from(n)))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::from(n)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::String(s.to_string())))
    }

    fn visit_unit<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut items = Vec::new();
        while let Some(i) = seq.next_element()? {
            items.push(i);
        }
        Ok(Ordered::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut fields: Vec<(String, Ordered)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Ordered>()? {
            // A repeated key: the last one counts, as in serde_json.
            fields.retain(|(o, _)| *o != k);
            fields.push((k, v));
        }
        Ok(Ordered::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arranging_keeps_the_old_order_and_appends_new_keys() {
        let old: Ordered =
            serde_json::from_str(r#"{"z": 1, "b": {"y": [{"q": 1, "p": 2}], "x": 2}, "a": 3}"#)
                .unwrap();
        let mut v = old.to_value();
        v["b"]["new"] = 4.into();
        v.as_object_mut().unwrap().remove("a");
        v["c"] = 5.into();
        let text = serde_json::to_string(&Ordered::arrange(&v, Some(&old))).unwrap();
        assert_eq!(
            text,
            r#"{"z":1,"b":{"y":[{"q":1,"p":2}],"x":2,"new":4},"c":5}"#
        );
    }
}
