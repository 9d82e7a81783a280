//! Payloads: canonical JSON, the SHA-256 that binds an approval to its
//! payload, and dotted-path lookups used by the rules.
//!
//! `serde_json::Map` is a `BTreeMap` here (no `preserve_order` feature), so
//! serialising a `Value` always yields sorted keys: that *is* the canonical
//! form, and re-parsing a displayed payload block and re-serialising it gives
//! the same bytes whatever whitespace the note has.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The canonical, compact serialisation of a payload.
pub fn canonical(payload: &Value) -> String {
    serde_json::to_string(payload).expect("a serde_json::Value always serialises")
}

/// The payload as shown in a note: canonical key order, pretty-printed,
/// every character that displays as something else (a C1 control, a
/// bidirectional override, an invisible format character) written as a
/// JSON escape, so the block reads as what runs and still parses to it.
pub fn pretty(payload: &Value) -> String {
    let text =
        serde_json::to_string_pretty(payload).expect("a serde_json::Value always serialises");
    if !text.chars().any(is_deceptive) {
        return text;
    }
    // Outside strings JSON text is ASCII, so only string contents change.
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_deceptive(c) {
            for unit in c.encode_utf16(&mut [0u16; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that hide, reorder or break the text around them. serde_json
/// already escapes the C0 controls in strings.
fn is_deceptive(c: char) -> bool {
    (c.is_control() && !c.is_ascii())
        || matches!(c,
            '\u{ad}' | '\u{61c}' | '\u{180e}' | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e007f}')
}

/// The deepest nesting a payload may have. A journal line wraps the
/// payload in a few levels of its own and must stay well within the JSON
/// reader's limit (128), or the journal could not be read back.
pub const MAX_DEPTH: usize = 64;

/// How deeply `v` nests: 1 for a scalar, `[]` or `{}`.
pub fn depth(v: &Value) -> usize {
    let inner = match v {
        Value::Array(items) => items.iter().map(depth).max(),
        Value::Object(map) => map.values().map(depth).max(),
        _ => None,
    };
    1 + inner.unwrap_or(0)
}

/// Hex SHA-256 of the canonical form.
pub fn sha256(payload: &Value) -> String {
    hex_sha256(canonical(payload).as_bytes())
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    let hex = crate::journal::key::hex32(&Sha256::digest(bytes).into());
    String::from_utf8_lossy(&hex).into_owned()
}

/// Looks up `a.b.c` in a JSON object tree.
pub fn lookup<'a>(payload: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(payload, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A one-line summary when the requester gave none: the action and its
/// first few scalar fields.
pub fn default_summary(action: &str, payload: &Value) -> String {
    let Value::Object(map) = payload else {
        return action.to_string();
    };
    let fields: Vec<String> = map
        .iter()
        .filter(|(_, v)| !v.is_object() && !v.is_array())
        .take(4)
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k} {s}"),
            other => format!("{k} {other}"),
        })
        .collect();
    if fields.is_empty() {
        action.to_string()
    } else {
        let mut s = format!("{action}: {}", fields.join(", "));
        if s.chars().count() > 120 {
            s = s.chars().take(117).collect::<String>() + "...";
        }
        s
    }
}

/// A number, also from a numeric string ("500.00"), for rule comparisons.
pub fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// Equality as a person means it: `1500 == 1500.0 == "1500"`.
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) if a.is_number() || b.is_number() => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_nesting() {
        assert_eq!(depth(&json!(1)), 1);
        assert_eq!(depth(&json!([])), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": [[]]}]})), 5);
    }

    #[test]
    fn pretty_escapes_what_displays_as_other_text_and_still_parses_back() {
        let v = json!({"k\u{202e}": "a\u{200b}b\u{85}\u{e0041}é"});
        let text = pretty(&v);
        assert!(text.is_ascii() || text.contains('é'), "{text}");
        assert!(!text.chars().any(is_deceptive), "{text}");
        assert!(text.contains("\\udb40\\udc41"), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn canonical_sorts_keys_and_ignores_whitespace() {
        let a: Value = serde_json::from_str(r#"{ "b": 1, "a": {"y": 2, "x": 1} }"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":1,"y":2},"b":1}"#).unwrap();
        assert_eq!(canonical(&a), r#"{"a":{"x":1,"y":2},"b":1}"#);
        assert_eq!(sha256(&a), sha256(&b));
        assert_ne!(sha256(&a), sha256(&json!({"a": {"x": 1, "y": 3}, "b": 1})));
    }

    #[test]
    fn lookup_follows_dotted_paths() {
        let p = json!({"a": {"b": [10, {"c": "x"}]}});
        let path = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert_eq!(lookup(&p, &path("a.b.1.c")), Some(&json!("x")));
        assert_eq!(lookup(&p, &path("a.z")), None);
    }

    #[test]
    fn loose_equality_compares_numbers_by_value() {
        assert!(loose_eq(&json!(1500), &json!(1500.0)));
        assert!(loose_eq(&json!("1500"), &json!(1500)));
        assert!(!loose_eq(&json!("a"), &json!("b")));
        assert!(!loose_eq(&json!("1e3"), &json!("1000")));
    }
}
