//! What the engine knows about the vault's files, in one place: where each
//! request's note is, what the engine itself last wrote where, and which
//! problems with a file it has already logged.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::scan::{Digest, FolderSeen, FolderStamps, Known, Stamps, digest, split};
use crate::vault::Stamp;

use crate::request::Id;

/// Maps by path are keyed by the path's bytes: hashing a `Path` walks its
/// components, which showed in profiles (the paths are all built alike, by
/// joining a folder and a file name).
#[derive(Debug, Default)]
pub(crate) struct NoteIndex {
    /// Where each request's note was last seen or written: the note a
    /// gesture counts in, and the one rewritten when the request changes.
    /// One copy of each path, shared with `by_path` (kept for every note).
    notes: HashMap<Id, Arc<OsStr>>,
    /// The inverse of `notes` (kept exactly so): which request's note a
    /// path is, when a file event names only the path.
    by_path: HashMap<Arc<OsStr>, Id>,
    /// Hash of what the engine last wrote at a path, and for which request:
    /// the echo of its own write is recognised by content, not by timing.
    written: HashMap<OsString, (Digest, Option<Id>)>,
    /// Each file's stamp when the engine last read or wrote it, and when
    /// the stamp was taken: a reconcile reads only files whose stamp
    /// changed. Shared with a scan in flight (copied on write).
    stamps: Stamps,
    /// The folders of `Done/` as last listed in full (see `scan.rs`).
    folders: Arc<FolderStamps>,
    /// How many writes the engine has made, and the count at its last
    /// write at each path: a scan's read of a path written since it
    /// started is out of date.
    writes: u64,
    last_write: HashMap<OsString, u64>,
    /// The problem last logged for a file, so a bad file is reported once,
    /// not at every reconcile.
    reported: HashMap<OsString, String>,
    /// Requests that changed while the vault was away: their notes were
    /// not written then, and the notes there still read as the engine's
    /// own last write, so no reconcile would see them as out of date.
    /// Written when the vault is back.
    owed: BTreeSet<Id>,
    /// Hash of the text the machine was last given from a path: a note
    /// whose text is neither this nor the engine's own last write holds a
    /// change the machine has not read yet (its file event is on the way).
    seen: HashMap<OsString, Digest>,
    /// Requests whose rewrite waits for the machine to read such a change
    /// first: rewriting now would keep the person's gesture in the text and
    /// then take the file event for the echo of the engine's own write.
    deferred: BTreeSet<Id>,
    /// Requests whose note owes History lines of record-only events, and
    /// when they are written (unless a rewrite comes first).
    history: HashMap<Id, tokio::time::Instant>,
    /// Requests with events journaled since their note was last rendered:
    /// their note may not show their state, so its stamp is not kept for
    /// the next start (which reads it, and repairs it).
    unsynced: HashSet<Id>,
    /// The stamps of the last run are in `stamps` and not yet used by the
    /// start-up's reconcile.
    seeded: bool,
    /// What the start-up's reconcile read, for `hitl status`.
    start: StartReads,
    /// Bumped at every change of where a note is or of a stamp: a
    /// reconcile that changed none of it since one that found every note
    /// in place need not judge them again (see `reconcile.rs`).
    generation: u64,
}

/// What the start-up's reconcile read, and why (for `hitl status`).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(crate) struct StartReads {
    /// Notes read and parsed.
    pub notes_read: usize,
    /// Notes not read: their stamp is the one the last run saw.
    pub notes_unchanged: usize,
    /// Whether the last run's stamps were used, or why not.
    pub stamps: String,
}

/// What the engine's own last write at a path says about its text now.
#[derive(Debug, PartialEq)]
pub(crate) enum Echo {
    /// Not what the engine last wrote there: someone else's change.
    Foreign,
    /// Exactly what the engine wrote, for this request (if any).
    Own(Option<Id>),
}

impl NoteIndex {
    /// Where the note of `id` is known to be.
    pub(crate) fn path_of(&self, id: &str) -> Option<&Path> {
        self.notes.get(id).map(|p| Path::new(&**p))
    }

    /// Which request's note is known to be at `path`.
    pub(crate) fn id_at(&self, path: &Path) -> Option<&Id> {
        self.by_path.get(path.as_os_str())
    }

    /// The note of `id` is at `path` (and no longer where it was).
    pub(crate) fn track(&mut self, id: &str, path: PathBuf) {
        self.generation += 1;
        // Exact size (a joined path has room to spare), and shared.
        let path: Arc<OsStr> = Arc::from(path.into_os_string());
        if let Some(old) = self.notes.insert(id.to_string(), path.clone())
            && old != path
        {
            self.by_path.remove(&*old);
        }
        if let Some(other) = self.by_path.insert(path, id.to_string())
            && other != id
        {
            self.notes.remove(&other);
        }
    }

    /// The note of `id` is nowhere known.
    pub(crate) fn forget(&mut self, id: &str) {
        self.generation += 1;
        if let Some(path) = self.notes.remove(id) {
            self.by_path.remove(&*path);
        }
    }

    /// The file at `path` is gone: whatever was known about it goes too
    /// (what the engine wrote there stays, to recognise a move back).
    pub(crate) fn gone(&mut self, path: &Path) {
        self.generation += 1;
        self.reported.remove(path.as_os_str());
        self.forget_stamp(path);
        self.seen.remove(path.as_os_str());
        if let Some(id) = self.by_path.remove(path.as_os_str()) {
            self.notes.remove(&id);
        }
    }

    /// The engine wrote `text` at `path`, for `id`.
    pub(crate) fn wrote(&mut self, path: &Path, text: &str, id: Option<&str>) {
        let entry = (digest(text.as_bytes()), id.map(str::to_string));
        self.written.insert(path.as_os_str().to_owned(), entry);
        self.writes += 1;
        self.last_write
            .insert(path.as_os_str().to_owned(), self.writes);
        // What the file is now is seen after the write, if at all.
        self.forget_stamp(path);
    }

    /// Whether text with digest `text` at `path` is what the engine last
    /// wrote there.
    pub(crate) fn echo(&self, path: &Path, text: Digest) -> Echo {
        match self.written.get(path.as_os_str()) {
            Some((hash, id)) if *hash == text => Echo::Own(id.clone()),
            _ => Echo::Foreign,
        }
    }

    /// Which state of the notes' places and stamps this is: equal counts,
    /// no change in between.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The engine's count of writes so far.
    pub(crate) fn write_count(&self) -> u64 {
        self.writes
    }

    /// Whether the engine wrote at `path` after its count was `count`.
    pub(crate) fn written_since(&self, path: &Path, count: u64) -> bool {
        self.last_write
            .get(path.as_os_str())
            .is_some_and(|c| *c > count)
    }

    /// The engine saw the file at `path` with this stamp, taken at `at`,
    /// holding the text whose digest is `text`.
    pub(crate) fn saw(&mut self, path: &Path, stamp: Stamp, at: SystemTime, text: Digest) {
        let known = Known {
            stamp,
            at,
            digest: text,
        };
        self.put_stamp(path, known);
    }

    fn put_stamp(&mut self, path: &Path, known: Known) {
        self.generation += 1;
        if let Some((dir, name)) = split(path) {
            let here = self.stamps.entry(dir.to_owned()).or_default();
            Arc::make_mut(here).insert(name.to_owned(), known);
        }
    }

    fn known(&self, path: &Path) -> Option<&Known> {
        super::scan::known_at(&self.stamps, path)
    }

    fn forget_stamp(&mut self, path: &Path) {
        self.generation += 1;
        let Some((dir, name)) = split(path) else {
            return;
        };
        if let Some(here) = self.stamps.get_mut(dir)
            && here.contains_key(name)
        {
            Arc::make_mut(here).remove(name);
        }
    }

    /// Every file is read again at the next reconcile (what was read may
    /// not have been journaled).
    pub(crate) fn forget_stamps(&mut self) {
        self.generation += 1;
        self.stamps = Stamps::default();
        self.folders = Arc::default();
    }

    /// The stamps, for a scan (each folder's shared, copied on write).
    pub(crate) fn stamps(&self) -> Stamps {
        self.stamps.clone()
    }

    /// The stamps of the folders of `Done/`, for a scan.
    pub(crate) fn folders(&self) -> Arc<FolderStamps> {
        self.folders.clone()
    }

    /// A scan listed these folders in full, stamped so before.
    pub(crate) fn listed_folders(&mut self, listed: Vec<(PathBuf, FolderSeen)>) {
        if !listed.is_empty() {
            let folders = Arc::make_mut(&mut self.folders);
            for (dir, seen) in listed {
                folders.insert(dir, seen);
            }
        }
    }

    /// The note of `id` at `path` is as the last run saw it (if its stamp
    /// still says so): known, tracked, and taken as read by the machine.
    pub(crate) fn seed(&mut self, path: PathBuf, known: Known, id: Id) {
        self.seeded = true;
        self.put_stamp(&path, known);
        self.track(&id, path);
    }

    /// The stamps the start-up's reconcile may trust: the last run's, once
    /// (later reconciles at `Start` scope read everything, as before).
    pub(crate) fn take_seeded(&mut self) -> Stamps {
        if std::mem::take(&mut self.seeded) {
            self.stamps.clone()
        } else {
            Stamps::default()
        }
    }

    /// Events of `id` were journaled: its note shows them once rewritten.
    pub(crate) fn changed(&mut self, id: &str) {
        if !self.unsynced.contains(id) {
            self.unsynced.insert(id.to_string());
        }
    }

    /// The note of `id` was rendered from its state and written.
    pub(crate) fn synced(&mut self, id: &str) {
        self.unsynced.remove(id);
    }

    /// The stamps worth keeping for the next start: notes of requests
    /// whose note shows their state, with the request each is the note of.
    pub(crate) fn persisted(&self) -> impl Iterator<Item = (PathBuf, &Known, &Id)> {
        let all = self.stamps.iter().flat_map(|(dir, here)| {
            here.iter()
                .map(move |(name, k)| (Path::new(dir).join(name), k))
        });
        all.filter_map(|(path, known)| {
            let id = self.by_path.get(path.as_os_str())?;
            (!self.unsynced.contains(id)).then_some((path, known, id))
        })
    }

    /// Records what the start-up's reconcile read.
    pub(crate) fn started(&mut self, start: StartReads) {
        self.start = start;
    }

    pub(crate) fn start_reads(&self) -> &StartReads {
        &self.start
    }

    /// Forgets the stamps of files a listing no longer shows.
    pub(crate) fn drop_stamps(&mut self, stale: &[PathBuf]) {
        for path in stale {
            self.forget_stamp(path);
        }
    }

    /// The note of `id` could not be written now (the vault is away).
    pub(crate) fn owe(&mut self, id: &str) {
        self.owed.insert(id.to_string());
    }

    /// The machine is given the text read at `path`, whose digest is `text`.
    pub(crate) fn given(&mut self, path: &Path, text: Digest) {
        self.seen.insert(path.as_os_str().to_owned(), text);
    }

    /// Whether `text` at `path` holds a change the machine has not read:
    /// neither what it was last given from there nor the engine's own last
    /// write. A path with no record of either (not read since the start)
    /// is taken as read, as the start's reconcile reads every note.
    pub(crate) fn unread_change(&self, path: &Path, text: &str) -> bool {
        let hash = digest(text.as_bytes());
        let key = path.as_os_str();
        // A note seeded from the last run's stamps was last read then: its
        // stamp's digest is what the machine was given.
        let seen = self
            .seen
            .get(key)
            .or_else(|| self.known(path).map(|k| &k.digest));
        let written = self.written.get(key).map(|(h, _)| h);
        (seen.is_some() || written.is_some()) && seen != Some(&hash) && written != Some(&hash)
    }

    /// The rewrite of `id` waits until the machine has read its note.
    pub(crate) fn defer(&mut self, id: &str) {
        self.deferred.insert(id.to_string());
    }

    /// Whether the rewrite of `id` was waiting (and now no longer is).
    pub(crate) fn take_deferred(&mut self, id: &str) -> bool {
        self.deferred.remove(id)
    }

    /// The note of `id` owes History lines, written at `at` at the latest.
    pub(crate) fn owe_history(&mut self, id: &str, at: tokio::time::Instant) {
        self.history.entry(id.to_string()).or_insert(at);
    }

    /// The note of `id` was rewritten: it owes nothing any more.
    pub(crate) fn history_written(&mut self, id: &str) {
        self.history.remove(id);
    }

    /// When the next owed History is due.
    pub(crate) fn next_history(&self) -> Option<tokio::time::Instant> {
        self.history.values().min().copied()
    }

    /// The requests whose owed History is due at `now` (no longer owed).
    pub(crate) fn history_due(&mut self, now: tokio::time::Instant) -> Vec<Id> {
        let due: Vec<Id> = self
            .history
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &due {
            self.history.remove(id);
        }
        due
    }

    /// The notes owed a write, once each.
    pub(crate) fn take_owed(&mut self) -> Vec<Id> {
        std::mem::take(&mut self.owed).into_iter().collect()
    }

    /// Records `problem` with `path`; `true` if it is new (to be logged),
    /// `false` if it was the last one logged for that file.
    pub(crate) fn report(&mut self, path: &Path, problem: &str) -> bool {
        if self.reported.get(path.as_os_str()).map(String::as_str) == Some(problem) {
            return false;
        }
        self.reported
            .insert(path.as_os_str().to_owned(), problem.to_string());
        true
    }

    /// The file at `path` is fine again: its next problem is logged.
    pub(crate) fn clear_report(&mut self, path: &Path) {
        self.reported.remove(path.as_os_str());
    }
}

#[cfg(test)]
#[path = "note_index_tests.rs"]
mod tests;
