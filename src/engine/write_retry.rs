//! Note writes that failed (disk full, no permission on the folder, out of
//! descriptors) are owed again, with backoff: first after
//! [`FIRST_RETRY`], doubling up to [`LAST_RETRY`], until the note lands.
//! A failed write is never just logged and dropped: a drop-in's rewrite
//! that failed would leave its raw note, and its request could then only
//! be decided outside the vault.
//!
//! A retry is an owed rewrite (`writes.rs`), written in its turn of the
//! engine loop, and keeps how it was asked for (the drop-in it adopts,
//! the folder it goes into), so a drop-in's note is still written over the
//! drop-in, never beside it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::Engine;
use super::writes::{NoteWrite, Owed};
use crate::request::Id;

/// The wait before the first retry of a failed note write.
pub(super) const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two retries.
pub(super) const LAST_RETRY: Duration = Duration::from_secs(60);

/// How a failed write was asked for, to be asked again the same way.
type Redo = (Option<(PathBuf, Vec<String>)>, Option<PathBuf>);

struct Failed {
    attempts: u32,
    /// When it is owed again; `None` once it is queued.
    due: Option<Instant>,
    redo: Redo,
}

/// Failed note writes waiting for their retry.
#[derive(Default)]
pub(super) struct WriteRetries {
    failed: HashMap<Id, Failed>,
}

/// The wait after the `attempts`-th failure: 1 s, 2 s, 4 s... up to 60 s.
fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(LAST_RETRY)
}

impl WriteRetries {
    /// Records a failure of `w`; how many so far and the wait until the
    /// next attempt.
    fn failed(&mut self, w: &NoteWrite, now: Instant) -> (u32, Duration) {
        let entry = self.failed.entry(w.id.clone()).or_insert(Failed {
            attempts: 0,
            due: None,
            redo: (None, None),
        });
        entry.attempts += 1;
        // A drop-in to adopt is kept from the first failure on.
        if w.adopt.is_some() || entry.redo.0.is_none() {
            entry.redo = (w.adopt.clone(), w.into.clone());
        }
        let wait = backoff(entry.attempts);
        entry.due = Some(now + wait);
        (entry.attempts, wait)
    }

    /// The note of `id` was written: nothing is owed any more.
    pub(super) fn landed(&mut self, id: &str) {
        self.failed.remove(id);
    }

    /// The drop-in `id`'s retries adopt is gone: they no longer adopt it.
    pub(super) fn adopt_gone(&mut self, id: &str) {
        if let Some(f) = self.failed.get_mut(id) {
            f.redo.0 = None;
        }
    }

    /// How a retry of `id` is asked for (nothing for a plain rewrite).
    pub(super) fn redo(&self, id: &str) -> Redo {
        self.failed
            .get(id)
            .map(|f| f.redo.clone())
            .unwrap_or_default()
    }

    /// The retries due at `now` (all of them with `now: None`), taken off
    /// the schedule; each stays recorded until its note lands.
    fn take_due(&mut self, now: Option<Instant>) -> Vec<Id> {
        let mut due = Vec::new();
        for (id, f) in &mut self.failed {
            if f.due.is_some_and(|at| now.is_none_or(|now| at <= now)) {
                f.due = None;
                due.push(id.clone());
            }
        }
        due.sort();
        due
    }

    /// When the next retry is due.
    pub(super) fn next(&self) -> Option<Instant> {
        self.failed.values().filter_map(|f| f.due).min()
    }
}

impl Engine {
    /// A note write failed: logged, and owed again after a backoff.
    pub(super) fn write_failed(&mut self, w: &NoteWrite, error: &std::io::Error) {
        let (attempts, wait) = self.writes.retries.failed(w, Instant::now());
        tracing::error!(
            request = %w.id,
            path = %w.at.display(),
            error = %error,
            attempts,
            retry_in_s = wait.as_secs(),
            "note not written; retried later"
        );
        let at = Instant::now() + wait;
        self.files_due = Some(self.files_due.map_or(at, |d| d.min(at)));
    }

    /// Owes the failed writes that are due (all of them with `all`, as
    /// hitl stops) their rewrite, in the next turns of the loop.
    pub(super) fn owe_due_write_retries(&mut self, all: bool) {
        let now = (!all).then(Instant::now);
        for id in self.writes.retries.take_due(now) {
            tracing::info!(request = %id, "retrying a note write that failed");
            self.owe_rewrite(&id, Owed::Rewrite);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_waits_one_second_doubling_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX), LAST_RETRY);
    }

    #[test]
    fn a_retry_keeps_the_drop_in_it_adopts_and_is_due_once() {
        let mut retries = WriteRetries::default();
        let drop_in = Some((PathBuf::from("/v/drop.md"), vec!["action".to_string()]));
        let mut w = NoteWrite {
            id: "a".into(),
            text: String::new(),
            at: PathBuf::from("/v/drop.md"),
            to: PathBuf::from("/v/drop.md"),
            expect: None,
            clear_code: false,
            adopt: drop_in.clone(),
            into: None,
        };
        let t0 = Instant::now();
        assert_eq!(retries.failed(&w, t0), (1, FIRST_RETRY));
        w.adopt = None;
        assert_eq!(retries.failed(&w, t0).0, 2);
        assert_eq!(retries.redo("a").0, drop_in);
        assert!(retries.take_due(Some(t0)).is_empty());
        assert_eq!(retries.take_due(Some(t0 + LAST_RETRY)), ["a"]);
        assert_eq!(retries.next(), None, "queued: not due again");
        retries.landed("a");
        assert_eq!(retries.redo("a"), (None, None));
    }
}
