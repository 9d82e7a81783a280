//! A small scanner over the canonical journal line, for the replay's fast
//! path ([`super::skeleton`], [`super::fold`]). The journal writes compact
//! JSON (serde_json, no spaces), so a line's top-level fields and those of
//! its `details` object can be found by walking it once, skipping the
//! values no one asks for.
//!
//! It only ever answers "here is what the line says" or "I don't know"
//! (`None`): a string with an escape in a field it returns, a space, a
//! duplicate field, a value of an unexpected type, anything it doesn't
//! recognise is `None`, and the caller then reads the line with serde. So
//! correctness never depends on it: where it answers, it answers what serde
//! would (the differential tests in `scanner_tests.rs` hold it to that).

/// Nesting deeper than this is left to serde.
const MAX_DEPTH: u32 = 64;

/// A cursor over one line's bytes.
pub struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str) -> Cursor<'a> {
        Cursor { text, at: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    fn eat_str(&mut self, s: &str) -> Option<()> {
        self.text[self.at..]
            .starts_with(s)
            .then(|| self.at += s.len())
    }

    /// Whether the whole text was read.
    pub fn at_end(&self) -> bool {
        self.at == self.text.len()
    }

    /// A string without escapes, borrowed; `None` for any escape (serde
    /// would unescape it) or a control character (serde refuses it).
    pub fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = &self.text.as_bytes()[self.at..];
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        let s = &self.text[self.at..self.at + len];
        self.at += len + 1;
        Some(s)
    }

    /// Steps over a string, escapes included.
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        loop {
            let rest = &bytes[self.at..];
            let n = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            self.at += n;
            match bytes[self.at] {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => self.skip_escape()?,
                _ => return None,
            }
        }
    }

    fn skip_escape(&mut self) -> Option<()> {
        self.at += 1;
        match self.peek()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
            b'u' => {
                let hex = self.text.get(self.at + 1..self.at + 5)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                self.at += 5;
            }
            _ => return None,
        }
        Some(())
    }

    pub fn bool(&mut self) -> Option<bool> {
        if self.eat_str("true").is_some() {
            Some(true)
        } else {
            self.eat_str("false").map(|()| false)
        }
    }

    /// `null`: `true` (and stepped over) if it is next.
    pub fn null(&mut self) -> bool {
        self.eat_str("null").is_some()
    }

    /// Whether the next value is an object.
    pub fn at_object(&self) -> bool {
        self.peek() == Some(b'{')
    }

    /// Whether the next value is a string.
    pub fn at_string(&self) -> bool {
        self.peek() == Some(b'"')
    }

    /// Steps over any one value, checking its shape on the way.
    pub fn skip_value(&mut self) -> Option<()> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => {
                self.at += 1;
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_string()?;
                    self.eat(b':')?;
                    self.skip_nested(depth + 1)?;
                    if self.eat(b'}').is_some() {
                        return Some(());
                    }
                    self.eat(b',')?;
                }
            }
            b'[' => {
                self.at += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_nested(depth + 1)?;
                    if self.eat(b']').is_some() {
                        return Some(());
                    }
                    self.eat(b',')?;
                }
            }
            b't' => self.eat_str("true"),
            b'f' => self.eat_str("false"),
            b'n' => self.eat_str("null"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => None,
        }
    }

    /// A number as JSON writes it: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn skip_number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        if self.eat(b'0').is_none() {
            if !matches!(self.peek()?, b'1'..=b'9') {
                return None;
            }
            self.digits();
        }
        if self.eat(b'.').is_some() && self.digits() == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    fn digits(&mut self) -> usize {
        let n = self.text.as_bytes()[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        self.at += n;
        n
    }

    /// Walks an object, handing each field's name to `field`, which reads
    /// (or skips) its value from the cursor.
    pub fn object(
        &mut self,
        mut field: impl FnMut(&'a str, &mut Cursor<'a>) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let name = self.plain_string()?;
            self.eat(b':')?;
            field(name, self)?;
            if self.eat(b'}').is_some() {
                return Some(());
            }
            self.eat(b',')?;
        }
    }

    /// The text of the next value (stepped over).
    pub fn raw_value(&mut self) -> Option<&'a str> {
        let start = self.at;
        self.skip_value()?;
        Some(&self.text[start..self.at])
    }
}

/// Sets `slot` once: a second value for the same field is `None` (serde's
/// derived readers refuse duplicate fields).
pub fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

/// The top-level fields every replayed line has: its time, request id and
/// event name, plain strings, and its details' text (`None`: absent).
pub struct Head<'a> {
    pub time: &'a str,
    pub request: &'a str,
    pub event: &'a str,
    pub details: Option<&'a str>,
}

/// A line's [`Head`], or `None` when the scanner can't be sure of it.
pub fn head(text: &str) -> Option<Head<'_>> {
    let (mut time, mut request, mut event, mut details) = (None, None, None, None);
    let mut cur = Cursor::new(text);
    cur.object(|name, cur| match name {
        "time" => once(&mut time, cur.plain_string()),
        "request" => once(&mut request, cur.plain_string()),
        "event" => once(&mut event, cur.plain_string()),
        "details" => once(&mut details, cur.raw_value()),
        _ => cur.skip_value(),
    })?;
    if !cur.at_end() {
        return None;
    }
    Some(Head {
        time: time?,
        request: request?,
        event: event?,
        details,
    })
}

/// A timestamp as the journal writes it (`2026-11-20T08:00:00.123456789Z`),
/// read as serde would read it.
pub fn timestamp(s: &str) -> Option<jiff::Timestamp> {
    super::timestamp::parse(s)
}
