//! A request's payload as the engine keeps it: its canonical JSON text, in
//! one allocation.
//!
//! A `serde_json::Value` tree costs a B-tree node (about 600 bytes) per
//! object plus a heap string per key and string value: most of the ~1 KB
//! an open request held. The canonical text ([`crate::payload::canonical`])
//! is what the handler receives and what `payload_sha256` hashes, so it is
//! kept as it is; the note's block and `hitl show` parse it back when they
//! display it. On the wire (journal, checkpoint, socket) a [`Payload`] is
//! the JSON value itself, byte for byte what a `Value` wrote.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The canonical, compact JSON text of a payload (sorted keys).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Payload(Box<str>);

impl Payload {
    /// The payload of `value`, in canonical form.
    pub fn new(value: &Value) -> Payload {
        Payload(crate::payload::canonical(value).into_boxed_str())
    }

    /// The canonical JSON text: what the handler gets on stdin.
    pub fn canonical(&self) -> &str {
        &self.0
    }

    /// The payload as a JSON value, parsed from its text.
    pub fn value(&self) -> Value {
        // The text was written from a `Value` within the nesting limit
        // (`payload::MAX_DEPTH`, below the reader's), so it reads back.
        serde_json::from_str(&self.0).expect("a payload's canonical text is JSON")
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Payload {
        Payload::new(&value)
    }
}

impl PartialEq<Value> for Payload {
    fn eq(&self, other: &Value) -> bool {
        *self.0 == crate::payload::canonical(other)
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Payload, D::Error> {
        Value::deserialize(d).map(Payload::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tricky() -> Value {
        json!({
            "z": [1, -2, 3.25, 1e300, 0.1, null, true],
            "a": {"nested": {"deep": "ü \u{202e} \"quoted\" \\ \n"}},
            "amount": 4200,
            "big": u64::MAX,
            "neg": i64::MIN,
        })
    }

    #[test]
    fn a_payload_serialises_byte_for_byte_as_the_value_it_was_made_from() {
        let value = tricky();
        let payload = Payload::new(&value);
        assert_eq!(
            serde_json::to_string(&payload).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        assert_eq!(
            serde_json::to_string_pretty(&payload).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
        assert_eq!(payload.canonical(), crate::payload::canonical(&value));
    }

    #[test]
    fn a_payload_round_trips_through_its_wire_form_to_the_same_value_and_hash() {
        let value = tricky();
        let payload = Payload::new(&value);
        let wire = serde_json::to_string(&payload).unwrap();
        let back: Payload = serde_json::from_str(&wire).unwrap();
        assert_eq!(back, payload);
        assert_eq!(back.value(), value);
        assert_eq!(back, value);
        assert_eq!(
            crate::payload::hex_sha256(back.canonical().as_bytes()),
            crate::payload::sha256(&value)
        );
    }

    /// What runs is what was shown: the canonical text read back (for the
    /// note, `show`, a replay) and written again is the same bytes, for
    /// numbers at the edges of what JSON and f64 hold too.
    #[test]
    fn a_payload_reads_back_to_the_same_canonical_bytes_at_the_number_edges() {
        let edges = [
            "5e-324",
            "-5e-324",
            "1.7976931348623157e308",
            "-0",
            "-0.0",
            "0.1",
            "1e21",
            "1e-7",
            "0.30000000000000004",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "1.0",
            "2.5e+3",
            "9007199254740993",
            "\"\\u00e9\\ud83d\\ude00\\u2028\"",
        ];
        for n in edges {
            let first: Payload = serde_json::from_str(&format!("{{\"n\":[{n}]}}")).unwrap();
            let again: Payload = serde_json::from_str(first.canonical()).unwrap();
            assert_eq!(again.canonical(), first.canonical(), "{n}");
            assert_eq!(
                crate::payload::canonical(&first.value()),
                first.canonical(),
                "{n}"
            );
            let wire = serde_json::to_string(&first).unwrap();
            assert_eq!(wire, first.canonical(), "{n}");
        }
    }

    #[test]
    fn a_payload_read_from_differently_spaced_json_is_kept_canonical() {
        let spaced = "{ \"b\" : 1 ,\n \"a\" : [ 1 , 2 ] }";
        let payload: Payload = serde_json::from_str(spaced).unwrap();
        assert_eq!(payload.canonical(), r#"{"a":[1,2],"b":1}"#);
        assert_eq!(format!("{payload:?}"), r#"{"a":[1,2],"b":1}"#);
    }
}
