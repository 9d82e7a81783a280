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
        let len = special(rest)?;
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
            let n = special(&bytes[self.at..])?;
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

    /// Walks the fields of an object whose text stops before its last
    /// fields (a checked journal line's body, [`crate::journal::Line::body`]):
    /// the text ends right after a value.
    pub fn head_fields(
        &mut self,
        mut field: impl FnMut(&'a str, &mut Cursor<'a>) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        loop {
            let name = self.plain_string()?;
            self.eat(b':')?;
            field(name, self)?;
            if self.at_end() {
                return Some(());
            }
            self.eat(b',')?;
        }
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

/// A timestamp as the journal writes it (`2026-11-20T08:00:00.123456789Z`),
/// read as serde would read it.
pub fn timestamp(s: &str) -> Option<jiff::Timestamp> {
    super::timestamp::parse(s)
}

/// Where the first byte that ends or interrupts a string's plain run is
/// (a quote, a backslash, a control character), 8 bytes at a time.
fn special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Flags the bytes of `x` below `n` (n <= 128); the lowest flag is
    // exact (a borrow only flags bytes above a true one).
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let hits = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = chunks.remainder();
    tail.iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_word_at_a_time_search_finds_what_a_byte_search_finds(
            bytes in prop::collection::vec(
                prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x21, any::<u8>(), 0x20u8..0x7f],
                0..40,
            ),
        ) {
            let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            prop_assert_eq!(super::special(&bytes), naive);
        }
    }
}
