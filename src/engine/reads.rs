//! Reads off the engine thread, decided on it: a reconcile's scan (the
//! periodic one, and the one at start, which a shutdown can stop), and the
//! notes file events name. A read the engine's state has moved past (the
//! engine wrote the file since, or the file's stamp differs now) is read
//! again on the engine thread before it counts. A scan's reads are decided
//! [`DECIDE_CHUNK`] per turn of the engine loop, so a gesture arriving
//! while thousands of changed notes are decided on waits for one chunk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::note_index::StartReads;
use super::reconcile::Scope;
use super::scan::{self, Seen};
use super::{DaemonError, Engine};
use crate::machine::{Input, Step};
use crate::vault::Folder;
use crate::vault::Stamp;

/// How many of a scan's reads one turn of the engine loop decides on.
const DECIDE_CHUNK: usize = 256;

/// A scan running off the engine thread, whose result comes back to the
/// loop as an input.
#[derive(Default)]
pub(super) struct InFlight {
    pub(super) rx: Option<oneshot::Receiver<Scanned>>,
    /// A finished scan whose reads are being decided on, a chunk per turn.
    deciding: Option<Scanned>,
    /// A reconcile asked for while one was running: run it next.
    again: Option<Scope>,
    /// How many periodic reconciles were planned (see `scan::Sweep`).
    turns: u64,
    /// The descriptors held on notes from scan to scan (`scan_held.rs`).
    held: Arc<std::sync::Mutex<scan::Held>>,
    /// The state in which the last judge of missing notes found every
    /// note in place (see [`Engine::judge_notes`]).
    pub(super) judged_clean: Option<super::reconcile::Judged>,
}

impl InFlight {
    /// Whether a scan's reads wait to be decided on.
    pub(super) fn deciding(&self) -> bool {
        self.deciding.is_some()
    }
}

/// A finished scan, with what the engine needs to judge it.
pub(super) struct Scanned {
    scope: Scope,
    listing: scan::Listing,
    listing_at: Instant,
    /// The engine's write count when the scan started: a read of a path
    /// the engine wrote since is out of date.
    writes_at: u64,
    /// The note index's generation when the scan was planned: its stamps
    /// are the ones the scan compared against.
    files_at: u64,
}

/// The notes file events named, read off the engine thread.
pub(super) struct EventReads {
    reads: Vec<(PathBuf, Folder, scan::NoteRead)>,
    /// The engine's write count when they were asked for.
    writes_at: u64,
}

/// Waits for the reads in flight, if any.
pub(super) async fn done<T>(rx: &mut Option<oneshot::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.await.ok(),
        None => std::future::pending().await,
    }
}

impl Engine {
    pub(super) fn reconcile(&mut self) -> Result<(), DaemonError> {
        self.reconcile_all(Scope::Full)
    }

    /// Re-reads the inbox and the watched folders; expires what is due;
    /// regenerates notes that are missing. Reads on this thread: for the
    /// rare reconciles (after lost events, the vault back, the journal
    /// writable again); the periodic one is [`Engine::begin_reconcile`].
    pub(super) fn reconcile_all(&mut self, scope: Scope) -> Result<(), DaemonError> {
        let Some(plan) = self.plan(scope)? else {
            return Ok(());
        };
        let scanned = self.scanned(scope);
        match scan::scan(&plan) {
            Some(listing) => self.finish_reconcile(Scanned { listing, ..scanned }, true),
            None => Ok(()),
        }
    }

    /// Starts a reconcile whose reading happens off the engine thread; the
    /// loop hands its result to [`Engine::reconcile_scanned`].
    pub(super) fn begin_reconcile(&mut self, scope: Scope) -> Result<(), DaemonError> {
        if self.scan.rx.is_some() || self.scan.deciding() {
            self.scan.again = Some(match self.scan.again {
                Some(s) if s != Scope::Periodic => s,
                _ => scope,
            });
            return Ok(());
        }
        let Some(plan) = self.plan(scope)? else {
            return Ok(());
        };
        let scanned = self.scanned(scope);
        let (tx, rx) = oneshot::channel();
        self.scan.rx = Some(rx);
        tokio::task::spawn_blocking(move || {
            if let Some(listing) = scan::scan(&plan) {
                let _ = tx.send(Scanned { listing, ..scanned });
            }
        });
        Ok(())
    }

    /// The result of [`Engine::begin_reconcile`]: decided on by
    /// [`Engine::decide_scanned_chunk`], a chunk per turn of the loop.
    pub(super) fn reconcile_scanned(
        &mut self,
        scanned: Option<Scanned>,
    ) -> Result<(), DaemonError> {
        self.scan.rx = None;
        match scanned {
            Some(scanned) if self.outage.is_none() && !self.vault_missing => {
                self.scan.deciding = Some(scanned);
                Ok(())
            }
            _ => self.reconcile_again(),
        }
    }

    /// Decides on the next chunk of a scan's reads; after the last, ends
    /// the reconcile as [`Engine::finish_reconcile`] does. Dropped if the
    /// journal can't be written or the vault went away meanwhile: the
    /// reconcile when they are back reads every note.
    pub(super) fn decide_scanned_chunk(&mut self) -> Result<(), DaemonError> {
        let Some(mut scanned) = self.scan.deciding.take() else {
            return Ok(());
        };
        if self.outage.is_some() || self.vault_missing {
            return self.reconcile_again();
        }
        fail::fail_point!("reconcile-decide-chunk");
        if scanned.listing.seen.len() <= DECIDE_CHUNK {
            self.finish_reconcile(scanned, false)?;
            return self.reconcile_again();
        }
        let chunk: Vec<Seen> = scanned.listing.seen.drain(..DECIDE_CHUNK).collect();
        let steps = self.decide_reads(chunk, scanned.writes_at, false);
        if self.try_commit(steps, Vec::new())? {
            tracing::debug!(
                left = scanned.listing.seen.len(),
                "decided on a chunk of the reconcile's reads"
            );
            self.scan.deciding = Some(scanned);
        }
        Ok(())
    }

    fn reconcile_again(&mut self) -> Result<(), DaemonError> {
        match self.scan.again.take() {
            Some(scope) => self.begin_reconcile(scope),
            None => Ok(()),
        }
    }

    /// The start-up reconcile, reading off the engine thread so that the
    /// caller can stop waiting (a shutdown): then the scan stops too.
    pub(super) async fn reconcile_at_start(&mut self) -> Result<(), DaemonError> {
        let stamps = self.seed_stamps();
        let Some(plan) = self.plan(Scope::Start)? else {
            return Ok(());
        };
        let scanned = self.scanned(Scope::Start);
        let _stop = scan::CancelOnDrop(plan.cancel.clone());
        let listing = tokio::task::spawn_blocking(move || scan::scan(&plan)).await;
        let Ok(Some(listing)) = listing else {
            return Ok(());
        };
        let reads = StartReads {
            notes_read: listing
                .seen
                .iter()
                .filter(|s| matches!(s, Seen::Read(..)))
                .count(),
            notes_unchanged: listing.unchanged,
            stamps,
        };
        tracing::info!(
            read = reads.notes_read,
            unchanged = reads.notes_unchanged,
            "start-up: read the notes that changed since the last run"
        );
        self.files.started(reads);
        self.finish_reconcile(Scanned { listing, ..scanned }, true)
    }

    /// What a scan of `scope` reads; `None` when there is nothing to read
    /// now (the journal can't be written, or the vault is away: then only
    /// deadlines pass).
    fn plan(&mut self, scope: Scope) -> Result<Option<scan::Plan>, DaemonError> {
        if self.outage.is_some() {
            return Ok(None); // it runs again when the journal can be written
        }
        self.check_vault()?;
        if self.vault_missing {
            let step = self.machine.handle(Input::Tick, self.clock.now());
            self.commit(vec![step], Vec::new())?;
            return Ok(None);
        }
        let mut dirs = vec![(self.inbox.clone(), None)];
        for dir in self.vault.note_dirs() {
            let folder = self.vault.folder_of(&dir.join("x.md"));
            dirs.push((dir, folder));
        }
        Ok(Some(scan::Plan {
            vault: self.vault.clone(),
            dirs,
            cap: self.machine.config().max_note_bytes,
            // At start, only what the last run wrote down and the journal
            // vouches for (see `start_stamps.rs`) is trusted; later `Start`
            // reconciles (the vault back) read every note.
            known: match scope {
                Scope::Start => self.files.take_seeded(),
                _ => self.files.stamps(),
            },
            scope,
            folders: self.files.folders(),
            turn: {
                self.scan.turns += u64::from(scope == Scope::Periodic);
                self.scan.turns
            },
            cancel: Arc::default(),
            held: self.scan.held.clone(),
        }))
    }

    fn scanned(&self, scope: Scope) -> Scanned {
        Scanned {
            scope,
            listing: Default::default(),
            listing_at: Instant::now(),
            writes_at: self.files.write_count(),
            files_at: self.files.generation(),
        }
    }

    /// Decides on what a scan read, expires what is due, and judges which
    /// notes are missing. `fresh`: read on this thread just now; otherwise
    /// a read of a file that changed since (by the engine, or anyone: its
    /// stamp differs now) is read again here.
    fn finish_reconcile(&mut self, scanned: Scanned, fresh: bool) -> Result<(), DaemonError> {
        let started = scan::thread_cpu();
        let listing = scanned.listing;
        let read = listing
            .seen
            .iter()
            .filter(|s| matches!(s, Seen::Read(..)))
            .count();
        let other = listing.seen.len() - read;
        let mut steps = self.decide_reads(listing.seen, scanned.writes_at, fresh);
        steps.push(self.machine.handle(Input::Tick, self.clock.now()));
        self.commit(steps, Vec::new())?;
        let committed = scan::thread_cpu().saturating_sub(started);
        self.files.drop_stamps(&listing.stale);
        self.files.listed_folders(listing.folders);
        let judged = self.judge_notes(
            &listing.listed,
            scanned.listing_at,
            scanned.scope == Scope::Start,
            scanned.files_at,
        );
        tracing::debug!(
            open = self.open_count(),
            listed = listing.count,
            unlisted = listing.unlisted,
            held = listing.held,
            read,
            other,
            judged,
            scan_us = listing.took.as_micros() as u64,
            decide_us = committed.as_micros() as u64,
            judge_us = scan::thread_cpu()
                .saturating_sub(started)
                .saturating_sub(committed)
                .as_micros() as u64,
            "reconciled the vault"
        );
        Ok(())
    }

    /// The steps of a scan's reads (see [`Engine::finish_reconcile`]).
    fn decide_reads(&mut self, seen: Vec<Seen>, writes_at: u64, fresh: bool) -> Vec<Step> {
        let now = self.clock.now();
        let mut steps = Vec::new();
        for seen in seen {
            let step = match seen {
                Seen::Other(path) => self.look_at(&path, now),
                Seen::Read(path, _, note)
                    if !fresh && self.out_of_date(&path, &note, writes_at) =>
                {
                    self.look_at(&path, now)
                }
                Seen::Read(path, folder, note) => self.consider(&path, folder, *note, now),
            };
            steps.extend(step);
        }
        steps
    }

    /// Whether a scan's read of `path` no longer says what is there.
    pub(super) fn out_of_date(&self, path: &Path, note: &scan::NoteRead, writes_at: u64) -> bool {
        if self.files.written_since(path, writes_at) {
            return true;
        }
        let Ok(Some(note)) = note else {
            return true;
        };
        std::fs::symlink_metadata(path).map_or(true, |m| Stamp::of(&m) != note.stamp)
    }

    /// Reads the notes file events named off this thread; the loop takes
    /// no other file event until they are decided on (in order).
    pub(super) fn begin_event_reads(&mut self, notes: Vec<(PathBuf, Folder)>) {
        if notes.is_empty() {
            return;
        }
        let vault = self.vault.clone();
        let cap = self.machine.config().max_note_bytes;
        let writes_at = self.files.write_count();
        let (tx, rx) = oneshot::channel();
        self.event_reads = Some(rx);
        tokio::task::spawn_blocking(move || {
            let reads = notes
                .into_iter()
                .map(|(path, folder)| {
                    let read = scan::read_note(&vault, &path, cap);
                    (path, folder, read)
                })
                .collect();
            let _ = tx.send(EventReads { reads, writes_at });
        });
    }

    /// Decides on the notes [`Engine::begin_event_reads`] read. Dropped if
    /// the journal can't be written or the vault went away meanwhile: the
    /// reconcile when they are back reads every note.
    pub(super) fn event_reads_done(&mut self, done: Option<EventReads>) -> Result<(), DaemonError> {
        self.event_reads = None;
        let Some(done) = done else {
            return Ok(());
        };
        if self.outage.is_some() || self.vault_missing {
            return Ok(());
        }
        let now = self.clock.now();
        let mut steps = Vec::new();
        for (path, folder, read) in done.reads {
            let step = if self.out_of_date(&path, &read, done.writes_at) {
                self.look_at(&path, now)
            } else {
                self.consider(&path, folder, read, now)
            };
            steps.extend(step);
        }
        self.commit(steps, Vec::new())
    }
}
