//! The full reconcile, and the file side's own timers: deciding that a
//! request's note is missing, and re-reading notes whose read failed for a
//! transient reason.
//!
//! A listing is a snapshot that a write or a move can race with: a note
//! written or moved just after the listing is not in it. So a listing never
//! proves a note missing by itself. A request it did not show becomes a
//! suspect; it is missing only if a listing taken a settling time later
//! (with the watcher's events in between handled) still doesn't show it and
//! it is not at its last known path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use super::{DaemonError, Engine};
use crate::machine::Step;
use crate::request::{EventKind, Id};
use crate::vault::ReadError;

/// How much newer than the listing that missed a note the confirming
/// listing must be: long enough for the watcher to report a move or write
/// that raced with the first.
const MISSING_SETTLE: Duration = Duration::from_secs(1);
/// The first and the longest wait before a failed read is tried again.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// What a listing says about a request's note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoteSeen {
    Present,
    /// Not shown: check again with a newer listing.
    Suspect,
    /// Not shown by a listing newer (by the settling time) than the one
    /// that first missed it, nor at its last known path: regenerate it.
    Missing,
}

/// What is known of one request's note after a listing.
#[derive(Debug, Clone, Copy)]
pub(super) struct Evidence {
    /// The listing showed the note.
    pub listed: bool,
    /// A fresh look after the listing found it where the engine last saw
    /// or wrote it.
    pub at_known_path: bool,
    /// Some listed file could not be read for now (it may be this note).
    pub unread_files: bool,
    /// When a listing first missed it.
    pub missed_since: Option<Instant>,
    /// When this listing started.
    pub listing_at: Instant,
}

pub(super) fn judge_note(e: Evidence) -> NoteSeen {
    if e.listed || e.at_known_path {
        return NoteSeen::Present;
    }
    match e.missed_since {
        Some(first) if e.listing_at >= first + MISSING_SETTLE && !e.unread_files => {
            NoteSeen::Missing
        }
        _ => NoteSeen::Suspect,
    }
}

/// Whether a drop-in with the name and content of one taken at `taken` is
/// that same file: not written since (a weekly drop-in with the same name
/// and content, written anew, is a new request).
pub(super) fn taken_already(written: Option<Timestamp>, taken: Option<Timestamp>) -> bool {
    matches!((written, taken), (Some(w), Some(t)) if w <= t)
}

/// A read failure that says nothing about the file: try again soon.
pub(super) fn is_transient(e: &ReadError) -> bool {
    match e {
        ReadError::Io { error, .. } => matches!(
            error.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::EIO | libc::ENOMEM | libc::EINTR)
        ),
        _ => false,
    }
}

/// The wait before attempt `attempts + 1`: doubling, capped.
fn retry_delay(attempts: u32) -> Duration {
    RETRY_FIRST
        .saturating_mul(1 << attempts.min(10))
        .min(RETRY_MAX)
}

/// How much a reconcile reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// At start: every note, and settled requests' notes count as missing
    /// too (a crash may have lost one).
    Start,
    /// Events may have been lost: every note.
    Full,
    /// The periodic look: a note in `Done/` the daemon already knows (by
    /// a stamp that vouches for it, not one taken within a time tick of
    /// its change) is kept right by its events and not read again, so the
    /// cost of a reconcile does not grow with the history.
    Periodic,
}

/// Whether a reconcile of `scope` reads a file it listed; `known`: the
/// engine has a stamp of it that vouches for its content.
pub(super) fn worth_reading(scope: Scope, in_done: bool, known: bool) -> bool {
    scope != Scope::Periodic || !(in_done && known)
}

/// What the judge of missing notes depends on besides the listing: the
/// note index (where each note is, and the stamps the listing was compared
/// against), the requests (by the journal's head), and how many are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Judged {
    files: u64,
    journal: u64,
    open: usize,
}

impl Engine {
    fn judged_state(&self) -> Judged {
        Judged {
            files: self.files.generation(),
            journal: self.journal.head().0,
            open: self.machine.requests().len(),
        }
    }

    /// Judges which notes the listing missed; `false` when it need not:
    /// nothing changed since a judge that found every note in place, and
    /// the listing lost none of the files the engine knew. Then every
    /// request's note is still at a path whose stamp the scan compared
    /// (so listed, or in a folder of `Done/` unchanged), as before.
    /// `files_at`: the note index's generation when the scan was planned.
    pub(super) fn judge_notes(
        &mut self,
        listed: &super::scan::Listed,
        listing_at: Instant,
        startup: bool,
        files_at: u64,
    ) -> bool {
        let state = self.judged_state();
        // Only a judge against the stamps the index still holds proves
        // that each note is at a stamped path.
        let current = files_at == state.files;
        let same = current && self.scan.judged_clean == Some(state);
        if same && !startup && self.suspects.is_empty() && listed.lost_none() {
            return false;
        }
        self.scan.judged_clean = None;
        // Whether a note was shown only as a file the scan did not know
        // (no stamp): then a later listing must look for it again.
        let unstamped = std::cell::Cell::new(false);
        let shown = |files: &super::note_index::NoteIndex, id: &str| {
            files.path_of(id).is_some_and(|p| {
                let by_stamp = listed.shows_by_stamp(p);
                unstamped.set(unstamped.get() || !by_stamp);
                by_stamp || listed.shows(p)
            })
        };
        // A note the listing showed, of a request not suspected, is
        // present: only the others are judged (no clone, no `stat`).
        let judged = |id: &Id| !shown(&self.files, id) || self.suspects.contains_key(id);
        let open = self
            .machine
            .requests()
            .values()
            .filter(|r| startup || !r.status.is_final() || self.suspects.contains_key(&r.id))
            .map(|r| &r.id)
            .filter(|id| judged(id))
            .cloned();
        let settled = self.settled_candidates(startup).into_iter();
        let candidates: Vec<Id> = open.chain(settled.filter(|id| judged(id))).collect();
        let all_stamped = candidates.is_empty() && !unstamped.get();
        let mut suspects = std::mem::take(&mut self.suspects);
        for id in candidates {
            let listed = shown(&self.files, &id);
            // Only asked of notes the listing missed: a reconcile with
            // nothing changed costs no `stat` here.
            let at_known_path = !listed && self.files.path_of(&id).is_some_and(|p| p.exists());
            let since = suspects.remove(&id);
            let evidence = Evidence {
                listed,
                at_known_path,
                unread_files: !self.retries.is_empty(),
                missed_since: since,
                listing_at,
            };
            match judge_note(evidence) {
                NoteSeen::Present => {}
                NoteSeen::Suspect => {
                    self.suspects.insert(id, since.unwrap_or(listing_at));
                }
                NoteSeen::Missing if self.archived(&id) => {
                    tracing::info!(request = %id, "an archived request's note is gone; not regenerated (done_notes_kept)");
                    self.files.forget(&id);
                }
                NoteSeen::Missing => {
                    tracing::info!(request = %id, "note missing from the vault; regenerating it from the journal");
                    self.files.forget(&id);
                    self.owe_rewrite(&id, super::writes::Owed::Missing);
                }
            }
        }
        if let Some(first) = self.suspects.values().min() {
            self.due_at(*first + MISSING_SETTLE);
        }
        let clean =
            all_stamped && current && self.suspects.is_empty() && self.judged_state() == state;
        self.scan.judged_clean = clean.then_some(state);
        true
    }

    /// A note's read failed: transient failures are tried again after a
    /// backoff; anything else waits for the file's next change.
    pub(super) fn read_failed(&mut self, path: &Path, e: &ReadError) {
        if !is_transient(e) {
            self.retries.remove(path);
            return;
        }
        let attempts = self.retries.get(path).map_or(0, |(n, _)| *n);
        let at = Instant::now() + retry_delay(attempts);
        self.retries.insert(path.to_path_buf(), (attempts + 1, at));
        self.due_at(at);
    }

    fn due_at(&mut self, at: Instant) {
        self.files_due = Some(self.files_due.map_or(at, |d| d.min(at)));
    }

    /// The file side's timer: re-reads notes due for a retry, and confirms
    /// or clears suspects with a fresh listing.
    pub(super) fn on_files_due(&mut self) -> Result<(), DaemonError> {
        self.files_due = None;
        self.write_due_history();
        let now = Instant::now();
        let due: Vec<PathBuf> = self
            .retries
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(p, _)| p.clone())
            .collect();
        if !due.is_empty() && !self.vault_missing {
            let ts = self.clock.now();
            let mut steps: Vec<Step> = Vec::new();
            for path in due {
                tracing::debug!(path = %path.display(), "reading a note again after a transient failure");
                let attempts = self.retries.get(&path).map(|(n, _)| *n);
                steps.extend(self.look_at(&path, ts));
                // Read (or gone, or failed for good): no retry left unless
                // it failed transiently again.
                if self.retries.get(&path).map(|(n, _)| *n) == attempts {
                    self.retries.remove(&path);
                }
            }
            self.commit(steps, Vec::new())?;
        }
        for (_, at) in self.retries.values() {
            let at = *at;
            self.files_due = Some(self.files_due.map_or(at, |d| d.min(at)));
        }
        if self.suspects.values().any(|s| *s + MISSING_SETTLE <= now) {
            return self.begin_reconcile(Scope::Periodic);
        }
        if let Some(first) = self.suspects.values().min() {
            self.due_at(*first + MISSING_SETTLE);
        }
        Ok(())
    }

    /// Rebuilds the memory of drop-ins taken from the journal's requests.
    pub(super) fn remember_drop_ins(&mut self) {
        let taken: Vec<((String, String), Id)> = self
            .machine
            .requests()
            .values()
            .filter_map(|r| {
                let fp = r.sub.drop_in_sha256.clone()?;
                Some(((r.sub.file_name.clone(), fp), r.id.clone()))
            })
            .collect();
        self.ingested.extend(taken);
    }

    /// Remembers the drop-ins a step took.
    pub(super) fn note_drop_ins(&mut self, step: &Step) {
        for ev in &step.events {
            if let EventKind::Submitted(sub) = &ev.kind
                && let Some(fp) = &sub.drop_in_sha256
            {
                self.ingested
                    .insert((sub.file_name.clone(), fp.clone()), ev.request.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_missing_only_from_a_listing_newer_than_the_first_miss() {
        let t0 = Instant::now();
        let soon = t0 + MISSING_SETTLE / 2;
        let later = t0 + MISSING_SETTLE;
        use NoteSeen::*;
        // (listed, at known path, unread files, missed since, listing at) -> verdict
        let table = [
            (true, false, false, None, t0, Present),
            (false, true, false, None, t0, Present),
            (true, false, false, Some(t0), later, Present),
            (false, true, false, Some(t0), later, Present),
            // A first miss is only a suspicion: the note may be on its way.
            (false, false, false, None, t0, Suspect),
            // A second listing too soon after the first proves nothing new.
            (false, false, false, Some(t0), soon, Suspect),
            (false, false, false, Some(t0), t0, Suspect),
            (false, false, false, Some(t0), later, Missing),
            // A file that couldn't be read may be the note.
            (false, false, true, Some(t0), later, Suspect),
        ];
        for (listed, at_known_path, unread_files, missed_since, listing_at, want) in table {
            let e = Evidence {
                listed,
                at_known_path,
                unread_files,
                missed_since,
                listing_at,
            };
            assert_eq!(judge_note(e), want, "{e:?}");
        }
    }

    #[test]
    fn a_periodic_reconcile_does_not_read_the_known_history() {
        use Scope::*;
        // (scope, in Done/, known) -> read
        let table = [
            (Periodic, true, true, false),
            (Periodic, true, false, true),
            (Periodic, false, true, true),
            (Full, true, true, true),
            (Start, true, true, true),
        ];
        for (scope, in_done, known, want) in table {
            assert_eq!(
                worth_reading(scope, in_done, known),
                want,
                "{scope:?} {in_done} {known}"
            );
        }
    }

    #[test]
    fn a_drop_in_is_the_one_taken_only_if_not_written_since() {
        let t = Timestamp::from_second(1_000).unwrap();
        let before = Timestamp::from_second(999).unwrap();
        let after = Timestamp::from_second(1_001).unwrap();
        // (file written at, same drop-in taken at) -> taken already
        let table = [
            (Some(before), Some(t), true),
            (Some(t), Some(t), true),
            (Some(after), Some(t), false),
            (None, Some(t), false),
            (Some(before), None, false),
        ];
        for (written, taken, want) in table {
            assert_eq!(taken_already(written, taken), want, "{written:?} {taken:?}");
        }
    }

    #[test]
    fn transient_read_failures_are_retried_with_backoff() {
        let io = |code| ReadError::Io {
            path: "n.md".into(),
            error: std::io::Error::from_raw_os_error(code),
        };
        for code in [libc::EMFILE, libc::ENFILE, libc::EIO, libc::ENOMEM] {
            assert!(is_transient(&io(code)), "{code}");
        }
        assert!(!is_transient(&io(libc::EACCES)));
        assert!(!is_transient(&ReadError::NotAFile {
            path: "n.md".into()
        }));
        assert_eq!(retry_delay(0), RETRY_FIRST);
        assert_eq!(retry_delay(1), RETRY_FIRST * 2);
        assert_eq!(retry_delay(40), RETRY_MAX);
    }
}
