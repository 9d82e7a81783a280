//! The walk over the chain on two threads: one reads the file and checks
//! each line (UTF-8, its MAC, its sequence number and previous hash), the
//! other (the caller's) hands the checked lines to the visitor, which
//! parses and folds them. Lines go over in batches of about 256 KB through
//! a bounded channel (a few batches in flight, so memory stays constant),
//! and the emptied batches come back to be refilled.
//!
//! Order is kept: the visitor sees the lines in file order, and an error
//! is reported at the first line that has one, whichever thread found it,
//! with that line's number.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::JournalError;
use super::key::Chain;
use super::scan::{HASH_SUFFIX_LEN, Line, Walked, check};

/// About how many bytes of lines a batch holds.
const BATCH_BYTES: usize = 256 << 10;
/// Batches read ahead of the visitor.
const IN_FLIGHT: usize = 4;

/// Checked lines, in file order: their text, where each ends, and their
/// sequence numbers.
#[derive(Default)]
struct Batch {
    text: String,
    /// (end of the line's text in `text`, without its newline; its seq)
    lines: Vec<(usize, u64)>,
    /// The first line's number and where it starts in the walk.
    first_line: u64,
    first_offset: u64,
}

/// How the input ended: `Some` torn last line (where it starts, its
/// line number, its length) or `None` for a clean end.
type Torn = Option<(u64, u64, usize)>;

/// What the reading thread sends: batches, then how the walk ended.
enum Msg {
    Lines(Batch),
    End(Result<Walked, JournalError>),
}

/// Walks the chain from `prev`/`first_seq` (the genesis, or a checkpoint's
/// head), handing each checked line to `visit`. Stops at a torn last line;
/// any other damage (or an error from `visit`) is an error naming the line.
/// Reading and checking run on a thread of their own; `visit` runs on the
/// caller's.
pub(super) fn walk(
    path: &Path,
    input: impl Read + Send,
    chain: &Chain,
    prev: &str,
    first_seq: u64,
    mut visit: impl FnMut(&Line) -> Result<(), String>,
) -> Result<Walked, JournalError> {
    let (tx, rx) = sync_channel::<Msg>(IN_FLIGHT);
    let (back_tx, back_rx) = sync_channel::<Batch>(IN_FLIGHT + 2);
    std::thread::scope(|s| {
        let reader = Reading {
            path,
            chain,
            prev: prev.to_string(),
            line_no: first_seq - 1,
            offset: 0,
            head_offset: 0,
            last_seq: None,
        };
        s.spawn(move || {
            let end = reader.run(input, &tx, &back_rx);
            // The visitor may have stopped listening: nothing to tell.
            let _ = tx.send(Msg::End(end));
        });
        let result = consume(path, &rx, &back_tx, &mut visit);
        // Stops the reader if the visitor stopped first.
        drop(rx);
        result
    })
}

/// The caller's side: each checked line to `visit`, in order.
fn consume(
    path: &Path,
    rx: &Receiver<Msg>,
    back: &SyncSender<Batch>,
    visit: &mut impl FnMut(&Line) -> Result<(), String>,
) -> Result<Walked, JournalError> {
    loop {
        let msg = rx.recv().map_err(|_| JournalError::Damaged {
            path: path.to_path_buf(),
            line: 0,
            problem: "the journal's reading thread stopped".into(),
        })?;
        let batch = match msg {
            Msg::Lines(b) => b,
            Msg::End(end) => return end,
        };
        let mut start = 0;
        for (i, &(end, seq)) in batch.lines.iter().enumerate() {
            let text = &batch.text[start..end];
            let line = Line {
                seq,
                offset: batch.first_offset + start as u64,
                text,
                hash: &text[text.len() - HASH_SUFFIX_LEN + 9..text.len() - 2],
            };
            visit(&line).map_err(|problem| JournalError::Damaged {
                path: path.to_path_buf(),
                line: batch.first_line + i as u64,
                problem,
            })?;
            start = end + 1;
        }
        let _ = back.try_send(batch);
    }
}

/// The reading thread's state between lines.
struct Reading<'a> {
    path: &'a Path,
    chain: &'a Chain,
    prev: String,
    line_no: u64,
    offset: u64,
    head_offset: u64,
    last_seq: Option<u64>,
}

impl Reading<'_> {
    fn run(
        mut self,
        input: impl Read,
        tx: &SyncSender<Msg>,
        back: &Receiver<Batch>,
    ) -> Result<Walked, JournalError> {
        let mut reader = BufReader::with_capacity(1 << 16, input);
        loop {
            let mut batch = back.try_recv().unwrap_or_default();
            let (torn, damage) = self.fill(&mut reader, &mut batch)?;
            if !batch.lines.is_empty() && tx.send(Msg::Lines(batch)).is_err() {
                return Err(self.damaged(0, "the replay stopped".into()));
            }
            if let Some(e) = damage {
                return Err(e);
            }
            if let Some(torn) = torn {
                return Ok(self.walked(torn));
            }
        }
    }

    /// Reads and checks lines into `batch` until it is full, the input
    /// ends (`Some(torn)`: the torn last line, if any) or a line is
    /// damaged (the batch then ends before it).
    fn fill(
        &mut self,
        reader: &mut impl BufRead,
        batch: &mut Batch,
    ) -> Result<(Option<Torn>, Option<JournalError>), JournalError> {
        let mut bytes = std::mem::take(&mut batch.text).into_bytes();
        bytes.clear();
        batch.lines.clear();
        batch.first_line = self.line_no + 1;
        batch.first_offset = self.offset;
        let mut ended = None;
        while bytes.len() < BATCH_BYTES {
            let start = bytes.len();
            let n = reader
                .read_until(b'\n', &mut bytes)
                .map_err(|e| self.io(e))?;
            if n == 0 || bytes.last() != Some(&b'\n') {
                let torn = (n > 0).then_some((self.offset + start as u64, n));
                bytes.truncate(start);
                ended = Some(torn);
                break;
            }
            batch.lines.push((bytes.len() - 1, 0));
        }
        let (text, damage) = match String::from_utf8(bytes) {
            Ok(text) => (text, None),
            Err(e) => {
                let bad = e.utf8_error().valid_up_to();
                let mut bytes = e.into_bytes();
                let keep = batch.lines.iter().take_while(|(end, _)| *end < bad).count();
                let from = keep.checked_sub(1).map_or(0, |i| batch.lines[i].0 + 1);
                bytes.truncate(from);
                batch.lines.truncate(keep);
                let line = batch.first_line + keep as u64;
                let text =
                    String::from_utf8(bytes).map_err(|_| self.damaged(line, "not UTF-8".into()))?;
                (text, Some(self.damaged(line, "not UTF-8".into())))
            }
        };
        batch.text = text;
        let checked = self.check_all(batch);
        match checked {
            Some(e) => Ok((None, Some(e))),
            None if damage.is_some() => Ok((None, damage)),
            None => {
                let torn = ended.map(|t| t.map(|(offset, n)| (offset, self.line_no + 1, n)));
                Ok((torn, None))
            }
        }
    }

    /// Checks each line of `batch` against the chain, in order; at the
    /// first that fails, cuts the batch before it and returns the damage.
    fn check_all(&mut self, batch: &mut Batch) -> Option<JournalError> {
        let mut start = 0;
        for i in 0..batch.lines.len() {
            let end = batch.lines[i].0;
            let text = &batch.text[start..end];
            let line_no = self.line_no + 1;
            match check(self.chain, text, &self.prev, line_no) {
                Ok(line) => {
                    self.prev.clear();
                    self.prev.push_str(line.hash);
                    self.last_seq = Some(line.seq);
                    batch.lines[i].1 = line.seq;
                }
                Err(problem) => {
                    batch.lines.truncate(i);
                    return Some(self.damaged(line_no, problem));
                }
            }
            self.line_no = line_no;
            self.head_offset = self.offset;
            self.offset += (end + 1 - start) as u64;
            start = end + 1;
        }
        None
    }

    fn walked(self, torn: Torn) -> Walked {
        Walked {
            torn,
            head: self.last_seq.map(|seq| (seq, self.prev)),
            end: self.offset,
            head_offset: self.head_offset,
        }
    }

    fn damaged(&self, line: u64, problem: String) -> JournalError {
        JournalError::Damaged {
            path: self.path.to_path_buf(),
            line,
            problem,
        }
    }

    fn io(&self, error: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.to_path_buf(),
            error,
        }
    }
}
