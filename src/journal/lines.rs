//! Reading one request's lines back by offset: a settled request keeps
//! only where its first and last lines start ([`crate::request::Settled`]),
//! and its details (`hitl show`, its note, its History) are read from
//! there, not from the whole journal.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::key::Chain;
use super::scan::Line;
use super::{JournalError, Record};
use crate::request::Event;

/// The events of request `id` whose lines start between `first` and
/// `last` (both line starts), in order: [`Reader::events`] once.
pub fn request_events(
    path: &Path,
    chain: &Chain,
    first: u64,
    last: u64,
    id: &str,
) -> Result<Vec<Event>, JournalError> {
    let records = Reader::open(path, chain.clone())?.records(first, last, id)?;
    Ok(records.into_iter().map(|r| r.event).collect())
}

/// Reads requests' lines back by offset, from one open journal file.
pub struct Reader {
    path: PathBuf,
    file: File,
    chain: Chain,
}

impl Reader {
    pub fn open(path: &Path, chain: Chain) -> Result<Reader, JournalError> {
        let file = File::open(path).map_err(|error| JournalError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Ok(Reader {
            path: path.to_path_buf(),
            file,
            chain,
        })
    }

    /// The events of request `id` whose lines start between `first` and
    /// `last` (both line starts), in order. Each line's MAC is checked
    /// (its place in the chain was checked when the journal was opened);
    /// a line that doesn't check, or no line of `id` there, is damage.
    pub fn events(&mut self, first: u64, last: u64, id: &str) -> Result<Vec<Event>, JournalError> {
        let records = self.records(first, last, id)?;
        Ok(records.into_iter().map(|r| r.event).collect())
    }

    /// [`Reader::events`] with their sequence numbers and hashes.
    pub fn records(
        &mut self,
        first: u64,
        last: u64,
        id: &str,
    ) -> Result<Vec<Record>, JournalError> {
        let path = &self.path;
        let io = |error| JournalError::Io {
            path: path.to_path_buf(),
            error,
        };
        // Which line it is: known from the first line whose MAC checks
        // (its sequence number is its line number), counted on from there.
        let mut line_no: Option<u64> = None;
        let damaged = |line: Option<u64>, offset: u64, problem: String| JournalError::Damaged {
            path: path.to_path_buf(),
            line: line.unwrap_or(0),
            problem: format!("at byte {offset}: {problem}"),
        };
        (&self.file).seek(SeekFrom::Start(first)).map_err(io)?;
        // Little more than the span: most are one or a few lines.
        let span = usize::try_from(last - first).unwrap_or(usize::MAX);
        let capacity = span.saturating_add(4096).min(1 << 16);
        let mut reader = BufReader::with_capacity(capacity, &self.file);
        let needle = format!("\"request\":\"{id}\"");
        let (mut offset, mut events, mut buf) = (first, Vec::new(), Vec::new());
        while offset <= last {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
            if n == 0 || buf.last() != Some(&b'\n') {
                let why = "the journal ends before this request's last line";
                return Err(damaged(line_no, offset, why.into()));
            }
            let ev = record_of(&self.chain, &buf[..n - 1], &needle);
            match ev.map_err(|p| damaged(line_no, offset, p))? {
                Some(r) => {
                    line_no = Some(r.seq + 1);
                    events.push(r);
                }
                None => line_no = line_no.map(|l| l + 1),
            }
            offset += n as u64;
        }
        if events.is_empty() {
            let why = format!("no line of request {id} here");
            return Err(damaged(None, first, why));
        }
        Ok(events)
    }
}

/// The record of one line if it is about the request `needle` names; its
/// MAC checked first.
fn record_of(chain: &Chain, bytes: &[u8], needle: &str) -> Result<Option<Record>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    // The envelope comes before the details, so the first match is it.
    // Its actor holds requester text (a label of any width): the head is
    // cut at a character's start.
    let mut end = text.len().min(160);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    if !head.contains(needle) {
        return Ok(None);
    }
    let line = Line::checked_alone(chain, text)?;
    Ok(Some(line.record()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line's envelope holds requester text (a drop-in's claimed name is
    /// its actor's label, up to 64 characters of any width): a character
    /// across the end of the searched head is text like any other, never
    /// a panic of the read-back.
    #[test]
    fn a_wide_character_across_the_searched_head_does_not_panic_the_read_back() {
        for shift in 0..4 {
            let label = format!("{}{}", "a".repeat(shift), "\u{1F600}".repeat(60));
            let text = format!(r#"{{"seq":1,"request":"a1","actor":"drop-in (agent: {label})"}}"#);
            let got = record_of(&Chain::Legacy, text.as_bytes(), "\"request\":\"b2\"");
            assert!(matches!(got, Ok(None)), "shift {shift}");
        }
    }
}
