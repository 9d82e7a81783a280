//! The engine's file side: turning file events into machine inputs, writing
//! notes, the inbox, and the full reconcile.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::note_index::Echo;
use super::scan::{self, NoteRead};
use super::{DaemonError, Engine, SETTLE};
use crate::machine::{Input, Step, dropin};
use crate::note;
use crate::request::{Id, new_id};
use crate::vault::{self, Folder, Kind, classify};
use crate::watcher::{self, WatchEvent};

impl Engine {
    pub(super) fn on_watch(&mut self, evs: Vec<WatchEvent>) -> Result<(), DaemonError> {
        if evs.contains(&WatchEvent::Rescan) {
            // Read off this thread: a burst that overflowed the watcher
            // may have changed thousands of notes.
            return self.begin_reconcile(super::reconcile::Scope::Full);
        }
        let folders: Vec<PathBuf> = self.vault.watched().into_iter().map(|(_, d)| d).collect();
        let about_folders = evs.iter().any(
            |ev| matches!(ev, WatchEvent::Path(p) if *p == self.vault.root || folders.contains(p)),
        );
        if about_folders {
            self.check_vault()?;
        }
        let new_months: Vec<PathBuf> = evs
            .iter()
            .filter_map(|ev| match ev {
                WatchEvent::Path(p) if self.vault.is_done_subfolder(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        let mut evs = evs;
        if !new_months.is_empty() && !self.vault_missing {
            // A new month of Done/ gets its own watch first; then what was
            // put there before it is read as if each file had changed (no
            // full reconcile: that would read every settled note again).
            self.arm_watcher()?;
            for dir in new_months {
                tracing::debug!(folder = %dir.display(), "watching a new folder of Done/");
                evs.extend(vault::list_dir(&dir).into_iter().map(WatchEvent::Path));
            }
        }
        let now = self.clock.now();
        let mut seen = HashSet::new();
        let mut steps = Vec::new();
        let mut notes = Vec::new();
        for ev in evs {
            let WatchEvent::Path(path) = ev else { continue };
            let in_inbox = path.parent() == Some(self.inbox.as_path());
            // While the vault is away only the inbox (in the state folder) counts.
            if (self.vault_missing && !in_inbox) || !seen.insert(path.clone()) {
                continue;
            }
            if in_inbox {
                steps.extend(self.look_at(&path, now));
            } else if let Some(folder) = self.folder_of_note(&path) {
                notes.push((path, folder)); // read off this thread
            }
        }
        self.commit(steps, Vec::new())?;
        self.begin_event_reads(notes);
        Ok(())
    }

    /// One path: an inbox command or a vault note, read now.
    pub(super) fn look_at(&mut self, path: &Path, now: Timestamp) -> Option<Step> {
        if path.parent() == Some(self.inbox.as_path()) {
            return self.take_inbox(path, now);
        }
        let step = self.look_at_note(path, now);
        self.with_deferred_rewrite(path, step)
    }

    fn look_at_note(&mut self, path: &Path, now: Timestamp) -> Option<Step> {
        let folder = self.folder_of_note(path)?;
        let cap = self.machine.config().max_note_bytes;
        let read = scan::read_note(&self.vault, path, cap);
        self.consider(path, folder, read, now)
    }

    /// Decides on a note as read: gone, unreadable (reported; retried if
    /// the cause may pass), empty (an in-place save in progress; its close
    /// event follows), the echo of the engine's own write, or a view for
    /// the machine. The file's stamp is remembered once it is decided on.
    pub(super) fn consider(
        &mut self,
        path: &Path,
        folder: Folder,
        read: NoteRead,
        now: Timestamp,
    ) -> Option<Step> {
        let note = match read {
            Ok(Some(note)) => {
                self.retries.remove(path);
                note
            }
            Ok(None) => {
                self.files.gone(path);
                self.retries.remove(path);
                return None;
            }
            Err(e) => {
                self.report(path, format!("note not read: {e}"));
                self.read_failed(path, &e);
                return None;
            }
        };
        if note.text.is_empty() {
            return None;
        }
        let (stamp, at, text) = (note.stamp, note.at, note.digest);
        if let Echo::Own(id) = self.files.echo(path, text) {
            // The echo of our own write; perhaps moved out and back
            // unchanged, so it is where the note is.
            if let Some(id) = id {
                self.track_unless_elsewhere(id, path);
            }
            self.files.saw(path, stamp, at, text);
            return None;
        }
        if let Ok(v) = &note.view {
            self.overwritten_note(v.hitl_id.as_deref(), path);
        }
        if self.archived_copy(path, folder, &note.view) {
            return None;
        }
        self.files.given(path, text);
        let view = note.view;
        match &view {
            Err(e) => self.report(path, format!("note not readable; no decision taken: {e}")),
            Ok(v) if !self.for_the_machine(path, folder, v) => {
                self.files.saw(path, stamp, at, text);
                return None;
            }
            Ok(_) => self.files.clear_report(path),
        }
        self.files.saw(path, stamp, at, text);
        let tracked = self.files.id_at(path).cloned();
        let input = Input::Note(crate::machine::SeenNote {
            path: path.to_path_buf(),
            folder,
            view,
            tracked,
            fresh_id: self.fresh_id(),
        });
        self.hydrate_for(&input);
        let step = self.machine.handle(input, now);
        self.note_drop_ins(&step);
        Some(step)
    }

    /// A Done note of an archived request (`done_notes_kept`): a plain
    /// copy, not tracked, stamped or put back; the request is settled, so
    /// nothing in it could change it anyway.
    fn archived_copy(
        &mut self,
        path: &Path,
        folder: Folder,
        view: &Result<note::NoteView, note::NoteError>,
    ) -> bool {
        let id = match view {
            Ok(v) if folder == Folder::Done => v.hitl_id.as_deref(),
            _ => None,
        };
        let Some(id) = id.filter(|id| self.archived(id)) else {
            return false;
        };
        // The place of another request's note (an archived copy written
        // or moved over it): read as any note there is, so that request's
        // note is given back.
        if self.files.id_at(path).is_some_and(|other| other != id) {
            return false;
        }
        if self.files.path_of(id).is_some_and(|p| p == path) {
            self.files.forget(id);
        }
        tracing::debug!(request = %id, path = %path.display(), "an archived request's Done note: not tracked");
        true
    }

    /// The vault folder of a file that may be a note; `None` for other
    /// files (a conflict copy is reported).
    pub(super) fn folder_of_note(&mut self, path: &Path) -> Option<Folder> {
        let name = path.file_name()?.to_string_lossy().into_owned();
        match classify(&name) {
            Kind::Ignored => None,
            Kind::ConflictCopy => {
                let problem = "sync conflict copy: ignored; resolve the conflict by hand";
                self.report(path, problem.into());
                None
            }
            Kind::Note => self.vault.folder_of(path),
        }
    }

    /// Whether a readable note goes to the machine: not the person's own
    /// note in `Done/`, not a drop-in already taken, not a stale copy.
    fn for_the_machine(&mut self, path: &Path, folder: Folder, view: &note::NoteView) -> bool {
        match view.hitl_id.clone() {
            None if folder == Folder::Done => false,
            None if folder == Folder::Pending => !self.taken_before(path, view),
            Some(id) if self.machine.knows(&id) => self.track_unless_elsewhere(id, path),
            _ => true,
        }
    }

    /// Tracks `path` as the note of `id`, unless the request's note is
    /// elsewhere: then this is a stale copy (left behind by a move, a sync
    /// tool or a copy), which gets a visible warning and is never read as a
    /// decision. `false` for a stale copy.
    fn track_unless_elsewhere(&mut self, id: Id, path: &Path) -> bool {
        if let Some(old) = self
            .files
            .path_of(&id)
            .filter(|old| *old != path && old.exists())
            .map(Path::to_path_buf)
        {
            let warning = format!(
                "stale copy: request {id}'s note is {}; nothing in this copy is read as a decision",
                old.display()
            );
            self.annotate(path, &warning);
            return false;
        }
        self.files.track(&id, path.to_path_buf());
        true
    }

    /// `path` was the note of another request and now holds another note
    /// (a copy of one written or moved over it, a drop-in, a note without
    /// `hitl_id`): that request's note is gone, and given back from the
    /// journal like a missing one (not an archived one).
    fn overwritten_note(&mut self, id: Option<&str>, path: &Path) {
        let Some(other) = self.files.id_at(path).filter(|o| Some(o.as_str()) != id) else {
            return;
        };
        let other = other.clone();
        tracing::info!(request = %other, path = %path.display(), now = id.unwrap_or("no hitl_id"), "note overwritten by another note; regenerating it from the journal");
        self.files.forget(&other);
        if !self.archived(&other) {
            self.owe_rewrite(&other, super::writes::Owed::Missing);
        }
    }

    /// A drop-in already taken as a request whose rewrite failed: the same
    /// name and content, not written since. Not taken twice.
    fn taken_before(&mut self, path: &Path, view: &note::NoteView) -> bool {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return false;
        };
        let key = (name, dropin::fingerprint(view));
        let settled = || self.machine.settled_drop_in(&key.0, &key.1);
        let Some(id) = self.ingested.get(&key).cloned().or_else(settled) else {
            return false;
        };
        let written = std::fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| Timestamp::try_from(t).ok());
        let taken = self.machine.created(&id);
        if !super::reconcile::taken_already(written, taken) {
            return false;
        }
        self.report(
            path,
            format!("this drop-in was already taken as request {id}; not taken again"),
        );
        true
    }

    pub(super) fn fresh_id(&self) -> String {
        loop {
            let id = new_id();
            if !self.machine.knows(&id) {
                return id;
            }
        }
    }

    /// Watches the vault's folders, its root (to notice it going away) and
    /// the inbox.
    pub(super) fn arm_watcher(&mut self) -> Result<(), DaemonError> {
        let mut dirs = self.vault.note_dirs();
        dirs.push(self.vault.root.clone());
        dirs.push(self.inbox.clone());
        self.watch = Some(watcher::spawn(&dirs, SETTLE, self.watch_tx.clone())?);
        Ok(())
    }

    /// Notices the vault going away (unmounted, renamed, unreadable) and
    /// coming back; while it is away, nothing is read or written there.
    pub(super) fn check_vault(&mut self) -> Result<(), DaemonError> {
        let problem = self.vault.unusable();
        match (problem, self.vault_missing) {
            (Some(problem), false) => {
                tracing::warn!(vault = %self.vault.root.display(), %problem, "the vault is unavailable; waiting for it to come back");
                self.vault_missing = true;
                self.watch = None;
            }
            (None, true) => match self.arm_watcher() {
                Ok(()) => {
                    tracing::info!(vault = %self.vault.root.display(), "the vault is back; reading every change made meanwhile");
                    self.vault_missing = false;
                    // As at start: requests settled meanwhile have no note yet.
                    self.reconcile_all(super::reconcile::Scope::Start)?;
                    // Those that changed meanwhile still show their old state.
                    for id in self.files.take_owed() {
                        self.owe_rewrite(&id, super::writes::Owed::Rewrite);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "vault not watchable yet"),
            },
            _ => {}
        }
        Ok(())
    }

    /// Logs a problem with a file once, not at every reconcile.
    pub(super) fn report(&mut self, path: &Path, problem: String) {
        if self.files.report(path, &problem) {
            tracing::warn!(path = %path.display(), "{problem}");
        }
    }
}
