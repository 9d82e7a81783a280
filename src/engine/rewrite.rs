//! Rewriting a request's note: compare-and-swap against the person's saves,
//! never over a change the machine has not read, and History lines of
//! record-only events (notification deliveries) written together, later.

use crate::request::Id;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::placement::{note_folder, note_place};
use super::writes::{NoteWrite, Owed};
use super::{Engine, reconcile};
use crate::machine::{Effect, Step};
use crate::note::{self, Existing};
use crate::vault::{self, Folder};

/// How often a rewrite is redone from a fresh read when the note changed
/// under it; then it waits for the change's file event.
const REWRITE_TRIES: usize = 3;

/// How long the History lines of notification deliveries wait for more of
/// them (one rewrite for all channels) or for a state change.
pub(super) const HISTORY_QUIET: Duration = Duration::from_secs(3);

/// How one attempt to rewrite a note ended.
enum Rewrite {
    /// Written (or nothing to write, or failed and logged).
    Done,
    /// The note changed between its read and the rename: nothing written.
    Changed,
    /// The note holds a change the machine has not read yet: written after
    /// it has.
    Deferred,
}

impl Engine {
    /// Re-renders a request's note, keeping the human's text, and moves it
    /// to the folder its state belongs in. The note is never replaced by a
    /// version rendered from older text than is there.
    pub(super) fn write_note(&mut self, id: &str, adopt: Option<(PathBuf, Vec<String>)>) {
        self.write_note_into(id, adopt, None);
    }

    /// [`Engine::write_note`], into the folder `into` when given (a note
    /// filed under its month of `Done/`).
    pub(super) fn write_note_into(
        &mut self,
        id: &str,
        adopt: Option<(PathBuf, Vec<String>)>,
        into: Option<PathBuf>,
    ) {
        if self.vault_missing {
            self.files.owe(id); // written when the vault is back
            return;
        }
        let restored = self.machine.settled(id).is_some();
        if restored {
            // Its details for this write only.
            self.hydrate(id);
        }
        if self.machine.get(id).is_some() {
            self.write_note_tries(id, adopt, into);
        }
        if restored {
            self.machine.compact_one(id);
        }
    }

    fn write_note_tries(
        &mut self,
        id: &str,
        adopt: Option<(PathBuf, Vec<String>)>,
        into: Option<PathBuf>,
    ) {
        for attempt in 1..=REWRITE_TRIES {
            match self.try_write_note(id, adopt.clone(), into.clone()) {
                Rewrite::Done => return,
                Rewrite::Deferred => {
                    tracing::debug!(request = %id, "note holds a change not read yet; rewritten once it is");
                    self.files.defer(id);
                    return;
                }
                Rewrite::Changed => {
                    tracing::debug!(request = %id, attempt, "note changed while being rewritten; again from a fresh read");
                }
            }
        }
        tracing::info!(request = %id, "note keeps changing; rewritten once its changes are read");
        self.files.defer(id);
    }

    fn try_write_note(
        &mut self,
        id: &str,
        adopt: Option<(PathBuf, Vec<String>)>,
        into: Option<PathBuf>,
    ) -> Rewrite {
        let adopt = self.still_there(id, adopt);
        let redo = (adopt.clone(), into.clone());
        let (current, mut drop_keys, from_drop_in) = match adopt {
            Some((path, keys)) => (Some(path), keys, true),
            None => (
                self.files.path_of(id).map(Path::to_path_buf),
                Vec::new(),
                false,
            ),
        };
        // Taken before the read: any write after it shows at the rename.
        let read_stamp = current.as_deref().map(vault::stamp);
        let Some(existing_text) = self.current_text(id, current.as_ref()) else {
            return Rewrite::Done;
        };
        if let (Some(path), Some(text)) = (&current, &existing_text)
            && !from_drop_in
            && self.files.unread_change(path, text)
        {
            return Rewrite::Deferred;
        }
        let Some(req) = self.machine.get(id) else {
            return Rewrite::Done;
        };
        // A used approval code does not linger in the note; only this write
        // drops it, not a code typed after it.
        let clear_code =
            self.machine.code_spent(id) || req.status != crate::request::Status::Pending;
        if clear_code {
            drop_keys.push("code".into());
        }
        if current.is_some() && existing_text.is_none() && !req.status.is_final() {
            // The note just moved, vanished or can't be read: the watcher
            // reports where it went and a reconcile regenerates a missing
            // one. Writing a fresh copy now would race with a human's move.
            tracing::debug!(request = %id, "note not at its last known path; not rewritten now");
            return Rewrite::Done;
        }
        let target = self.target_of(id, current.as_ref(), existing_text.is_some(), into);
        let Some(req) = self.machine.get(id) else {
            return Rewrite::Done;
        };
        let existing = existing_text.as_deref().map(|text| Existing {
            text,
            drop_keys: &drop_keys,
            from_drop_in,
        });
        for warning in self.machine.warnings(id) {
            tracing::warn!(request = %id, "no decision taken: {warning}");
        }
        let text = note::render(req, self.machine.warnings(id), existing, &self.tz);
        // Only a note that was read is compared; a new one is just written.
        let expect = read_stamp.filter(|_| existing_text.is_some());
        let at = current
            .filter(|c| *c != target && existing_text.is_some())
            .unwrap_or_else(|| target.clone());
        let write = NoteWrite {
            id: id.to_string(),
            text,
            at,
            to: target,
            expect,
            clear_code,
            adopt: redo.0,
            into: redo.1,
        };
        if self.plan_write(write) {
            Rewrite::Done
        } else {
            Rewrite::Changed
        }
    }

    /// The drop-in to adopt, if it is still there. One gone (deleted after
    /// its note's write failed) is never adopted again: the note is written
    /// afresh, and a new file at that name is a new drop-in.
    fn still_there(
        &mut self,
        id: &str,
        adopt: Option<(PathBuf, Vec<String>)>,
    ) -> Option<(PathBuf, Vec<String>)> {
        let (path, keys) = adopt?;
        if std::fs::symlink_metadata(&path).is_ok() {
            return Some((path, keys));
        }
        tracing::info!(request = %id, path = %path.display(), "the drop-in to write the note over is gone; the note is written afresh");
        self.writes.retries.adopt_gone(id);
        None
    }

    /// Where the note of `id` belongs: the folder of its state (or where
    /// the person put it), under its own name unless that is taken.
    fn target_of(
        &self,
        id: &str,
        current: Option<&PathBuf>,
        read: bool,
        into: Option<PathBuf>,
    ) -> PathBuf {
        let Some(req) = self.machine.get(id) else {
            return current.cloned().unwrap_or_default();
        };
        let now_in = current
            .filter(|_| read)
            .and_then(|p| self.vault.folder_of(p));
        let folder = note_folder(&req.status, now_in);
        let folder_dir = match folder {
            Folder::Done => self.done_dir(id, req.settled_at()),
            f => self.vault.dir(f),
        };
        let (dir, name) = note_place(
            current.map(PathBuf::as_path),
            now_in,
            folder,
            folder_dir,
            &req.sub.file_name,
        );
        let dir = into.unwrap_or(dir);
        let own = dir.join(&name);
        let taken = Some(&own) != current
            && (self.writes.takes(&own) || std::fs::symlink_metadata(&own).is_ok());
        dir.join(vault::note_name(&name, id, taken))
    }

    /// The text of a request's note at `current`, to keep the person's part
    /// of it; `Some(None)` when there is none to keep. `None`: it can't be
    /// read for now, and is read again soon (which brings the request back
    /// here); the person's text is never written over unread.
    fn current_text(&mut self, id: &str, current: Option<&PathBuf>) -> Option<Option<String>> {
        let cap = self.machine.config().max_note_bytes;
        let Some(path) = current else {
            return Some(None);
        };
        match self.vault.read(path, cap) {
            Ok(text) => Some(text),
            Err(e) if reconcile::is_transient(&e) => {
                tracing::warn!(request = %id, path = %path.display(), error = %e, "note not rewritten now: it can't be read");
                let path = path.clone();
                self.read_failed(&path, &e);
                None
            }
            Err(_) => Some(None),
        }
    }

    /// Writes a note's new text, then moves it (`at` -> `to`), so a crash
    /// in between leaves the new text at the old place, where the next
    /// start finds it and finishes the move, never a stale note in `Done/`.
    /// With `expect`, only over that version of the file. `false`: the
    /// file changed since, nothing was written.
    pub(super) fn place_note(&mut self, w: NoteWrite) -> bool {
        match vault::write_atomic_if(&w.at, &w.text, w.expect) {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                self.write_failed(&w, &e);
                return true;
            }
        }
        self.note_written(&w);
        if w.at == w.to {
            return true;
        }
        fail::fail_point!("note-between-write-and-move");
        match vault::move_note(&w.at, &w.to) {
            Ok(()) => self.note_moved(&w),
            Err(e) => {
                tracing::error!(request = %w.id, from = %w.at.display(), to = %w.to.display(), error = %e, "note not moved");
                self.write_failed(&w, &e);
            }
        }
        true
    }

    /// What a written note changes: its echo is known, it is where it was
    /// written, it owes no History, and a used code is gone from it.
    pub(super) fn note_written(&mut self, w: &NoteWrite) {
        self.files.wrote(&w.at, &w.text, Some(&w.id));
        self.files.track(&w.id, w.at.clone());
        self.files.history_written(&w.id);
        self.files.synced(&w.id);
        self.writes.retries.landed(&w.id);
        if w.clear_code {
            self.machine.code_cleared(&w.id);
        }
    }

    /// The written note was moved to where it belongs.
    pub(super) fn note_moved(&mut self, w: &NoteWrite) {
        self.files.wrote(&w.to, &w.text, Some(&w.id));
        self.files.track(&w.id, w.to.clone());
    }

    pub(super) fn annotate(&mut self, path: &Path, warning: &str) {
        self.report(path, warning.to_string());
        let cap = self.machine.config().max_note_bytes;
        let read_stamp = vault::stamp(path);
        let Ok(Some(text)) = self.vault.read(path, cap) else {
            return;
        };
        let Some(new) = vault::annotate(&text, warning) else {
            return;
        };
        match vault::write_atomic_if(path, &new, Some(read_stamp)) {
            Ok(true) => {
                let id = self.files.id_at(path).cloned();
                self.files.wrote(path, &new, id.as_deref());
            }
            // Changed since: its file event reads it again, and warns again.
            Ok(false) => {
                tracing::debug!(path = %path.display(), "note changed while being annotated; not written")
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "warning not written into the note")
            }
        }
    }

    /// The note rewrites of record-only events wait: their History lines
    /// are written with the next rewrite, or after [`HISTORY_QUIET`].
    pub(super) fn hold_history(&mut self, steps: &mut [Step]) {
        let at = Instant::now() + HISTORY_QUIET;
        for step in steps {
            step.effects.retain(|e| match e {
                Effect::WriteNote { id, adopt: None } => {
                    self.files.owe_history(id, at);
                    false
                }
                _ => true,
            });
        }
        self.schedule_history();
    }

    /// Writes the owed History lines that are due.
    pub(super) fn write_due_history(&mut self) {
        self.owe_due_write_retries(false);
        let due = self.files.history_due(Instant::now());
        for id in due {
            tracing::debug!(request = %id, "writing the History of notification deliveries");
            self.owe_rewrite(&id, Owed::Rewrite);
        }
        self.schedule_history();
    }

    /// Writes every owed History now (hitl is stopping).
    pub(super) fn write_all_history(&mut self) {
        let far = Instant::now() + HISTORY_QUIET * 2;
        let due = self.files.history_due(far);
        self.batched(|engine| {
            for id in due {
                engine.write_note(&id, None);
            }
        });
    }

    /// At start: an open request whose last journaled event is record-only
    /// may have crashed before its note showed it; its History is owed now.
    /// (Not for settled ones: nearly all end with their result's delivery,
    /// and a start does not rewrite every note of `Done/`; a clean stop
    /// writes what it owes.)
    pub(super) fn owe_history_at_start(&mut self) {
        let now = Instant::now();
        let owed: Vec<Id> = self
            .machine
            .requests()
            .values()
            .filter(|r| r.last_record_only && !r.status.is_final())
            .map(|r| r.id.clone())
            .collect();
        for id in owed {
            self.files.owe_history(&id, now);
        }
        self.schedule_history();
    }

    fn schedule_history(&mut self) {
        let next = [self.files.next_history(), self.writes.retries.next()];
        if let Some(at) = next.into_iter().flatten().min() {
            self.files_due = Some(self.files_due.map_or(at, |d| d.min(at)));
        }
    }

    /// The rewrite of the note read at `path` waited for this read (see
    /// [`Rewrite::Deferred`]): it comes with the read's step.
    pub(super) fn with_deferred_rewrite(
        &mut self,
        path: &Path,
        step: Option<Step>,
    ) -> Option<Step> {
        let Some(id) = self.files.id_at(path).cloned() else {
            return step;
        };
        if !self.files.take_deferred(&id) {
            return step;
        }
        let mut step = step.unwrap_or_default();
        let already = step
            .effects
            .iter()
            .any(|e| matches!(e, Effect::WriteNote { id: i, .. } if *i == id));
        if !already {
            step.effects.push(Effect::WriteNote { id, adopt: None });
        }
        Some(step)
    }
}
