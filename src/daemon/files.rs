//! The engine's file side: turning file events into machine inputs, writing
//! notes, the inbox, and the full reconcile.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::{DaemonError, Engine, SETTLE};
use crate::machine::{Folder, Input, Step};
use crate::note::{self, Existing};
use crate::payload::hex_sha256;
use crate::request::new_id;
use crate::vault::{self, Kind, classify};
use crate::watcher::{self, WatchEvent};

impl Engine {
    pub(super) fn on_watch(&mut self, evs: Vec<WatchEvent>) -> Result<(), DaemonError> {
        if evs.contains(&WatchEvent::Rescan) {
            return self.reconcile();
        }
        let folders: Vec<PathBuf> = self.vault.watched().into_iter().map(|(_, d)| d).collect();
        let about_folders = evs.iter().any(
            |ev| matches!(ev, WatchEvent::Path(p) if *p == self.vault.root || folders.contains(p)),
        );
        if about_folders {
            self.check_vault()?;
        }
        let now = Timestamp::now();
        let mut seen = HashSet::new();
        let mut steps = Vec::new();
        for ev in evs {
            let WatchEvent::Path(path) = ev else { continue };
            // While the vault is away only the inbox (in the state folder) counts.
            let readable = !self.vault_missing || path.parent() == Some(self.inbox.as_path());
            if readable && seen.insert(path.clone()) {
                steps.extend(self.look_at(&path, now));
            }
        }
        self.commit(steps, Vec::new())
    }

    /// Re-reads everything: the inbox, every watched folder; regenerates the
    /// notes of open requests that are missing; expires what is due.
    pub(super) fn reconcile(&mut self) -> Result<(), DaemonError> {
        if self.outage.is_some() {
            return Ok(()); // it runs again when the journal can be written
        }
        self.check_vault()?;
        if self.vault_missing {
            // Deadlines still pass; notes wait for the vault.
            let step = self.machine.handle(Input::Tick, Timestamp::now());
            return self.commit(vec![step], Vec::new());
        }
        let now = Timestamp::now();
        let mut steps = Vec::new();
        let mut present = HashSet::new();
        let mut paths: Vec<PathBuf> = list_dir(&self.inbox);
        for (folder, _) in self.vault.watched() {
            paths.extend(self.vault.list(folder));
        }
        for path in paths {
            steps.extend(self.look_at(&path, now));
            if let Some(id) = self.by_path.get(&path) {
                present.insert(id.clone());
            }
        }
        steps.push(self.machine.handle(Input::Tick, now));
        self.commit(steps, Vec::new())?;
        let missing: Vec<String> = self
            .machine
            .requests()
            .values()
            .filter(|r| !r.status.is_final() && !present.contains(&r.id))
            .map(|r| r.id.clone())
            .collect();
        for id in missing {
            tracing::info!(request = %id, "note missing from the vault; regenerating it from the journal");
            self.notes.remove(&id);
            self.write_note(&id, None);
        }
        tracing::debug!(open = self.open_count(), "reconciled the vault");
        Ok(())
    }

    /// One path: an inbox command or a vault note.
    fn look_at(&mut self, path: &Path, now: Timestamp) -> Option<Step> {
        if path.parent() == Some(self.inbox.as_path()) {
            return self.take_inbox(path, now);
        }
        let name = path.file_name()?.to_string_lossy().into_owned();
        match classify(&name) {
            Kind::Ignored => return None,
            Kind::ConflictCopy => {
                self.report(
                    path,
                    "sync conflict copy: ignored; resolve the conflict by hand".into(),
                );
                return None;
            }
            Kind::Note => {}
        }
        let folder = self.vault.folder_of(path)?;
        let cap = self.machine.config().max_note_bytes;
        let text = match self.vault.read(path, cap) {
            Ok(Some(text)) => text,
            Ok(None) => {
                self.reported.remove(path);
                if let Some(id) = self.by_path.remove(path)
                    && self.notes.get(&id).map(PathBuf::as_path) == Some(path)
                {
                    self.notes.remove(&id);
                }
                return None;
            }
            Err(e) => {
                self.report(path, format!("note not read: {e}"));
                return None;
            }
        };
        if text.is_empty() {
            return None; // an in-place save in progress; its close event follows
        }
        if self.written.get(path) == Some(&hex_sha256(text.as_bytes())) {
            return None; // the echo of our own write
        }
        let view = note::parse(&text);
        match &view {
            Err(e) => self.report(path, format!("note not readable; no decision taken: {e}")),
            Ok(v) => {
                self.reported.remove(path);
                if let Some(id) = v
                    .hitl_id
                    .as_ref()
                    .filter(|id| self.machine.get(id).is_some())
                {
                    if let Some(old) = self
                        .notes
                        .get(id)
                        .filter(|old| old.as_path() != path && old.exists())
                    {
                        let problem = format!(
                            "a second note carries the id of request {id} (the first is {}); ignored",
                            old.display()
                        );
                        self.report(path, problem);
                        return None;
                    }
                    self.track(id.clone(), path.to_path_buf());
                }
            }
        }
        let tracked = self.by_path.get(path).cloned();
        let input = Input::Note {
            path: path.to_path_buf(),
            folder,
            view,
            tracked,
            fresh_id: self.fresh_id(),
        };
        Some(self.machine.handle(input, now))
    }

    pub(super) fn fresh_id(&self) -> String {
        loop {
            let id = new_id();
            if self.machine.get(&id).is_none() {
                return id;
            }
        }
    }

    /// Watches the vault's folders, its root (to notice it going away) and
    /// the inbox.
    pub(super) fn arm_watcher(&mut self) -> Result<(), DaemonError> {
        let mut dirs: Vec<PathBuf> = self.vault.watched().into_iter().map(|(_, d)| d).collect();
        dirs.push(self.vault.root.clone());
        dirs.push(self.inbox.clone());
        self.watch = Some(watcher::spawn(&dirs, SETTLE, self.watch_tx.clone())?);
        Ok(())
    }

    /// Notices the vault going away (unmounted, renamed, unreadable) and
    /// coming back; while it is away, nothing is read or written there.
    pub(super) fn check_vault(&mut self) -> Result<(), DaemonError> {
        let available = self
            .vault
            .watched()
            .iter()
            .all(|(_, d)| std::fs::read_dir(d).is_ok());
        match (available, self.vault_missing) {
            (false, false) => {
                tracing::warn!(vault = %self.vault.root.display(), "the vault is unavailable (unmounted, renamed or unreadable); waiting for it to come back");
                self.vault_missing = true;
                self.watch = None;
            }
            (true, true) => match self.arm_watcher() {
                Ok(()) => {
                    tracing::info!(vault = %self.vault.root.display(), "the vault is back; reading every change made meanwhile");
                    self.vault_missing = false;
                    self.reconcile()?;
                }
                Err(e) => tracing::debug!(error = %e, "vault not watchable yet"),
            },
            _ => {}
        }
        Ok(())
    }

    fn track(&mut self, id: String, path: PathBuf) {
        if let Some(old) = self.notes.insert(id.clone(), path.clone())
            && old != path
        {
            self.by_path.remove(&old);
        }
        self.by_path.insert(path, id);
    }

    /// Re-renders a request's note, keeping the human's text, and moves it
    /// to the folder its state belongs in.
    pub(super) fn write_note(&mut self, id: &str, adopt: Option<(PathBuf, Vec<String>)>) {
        let Some(req) = self.machine.get(id) else {
            return;
        };
        if self.vault_missing {
            return; // rewritten by the reconcile when the vault is back
        }
        let (current, drop_keys, from_drop_in) = match adopt {
            Some((path, keys)) => (Some(path), keys, true),
            None => (self.notes.get(id).cloned(), Vec::new(), false),
        };
        let cap = self.machine.config().max_note_bytes;
        let existing_text = current
            .as_ref()
            .and_then(|p| self.vault.read(p, cap).ok().flatten());
        if current.is_some() && existing_text.is_none() && !req.status.is_final() {
            // The note just moved, vanished or can't be read: the watcher
            // reports where it went and a reconcile regenerates a missing
            // one. Writing a fresh copy now would race with a human's move.
            tracing::debug!(request = %id, "note not at its last known path; not rewritten now");
            return;
        }
        let folder = if req.status.is_final() {
            Folder::Done
        } else if let Some(f) = current
            .as_ref()
            .filter(|_| existing_text.is_some())
            .and_then(|p| self.vault.folder_of(p))
        {
            f
        } else if req.status == crate::request::Status::Pending {
            Folder::Pending
        } else {
            Folder::Approved
        };
        let name = current
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| req.sub.file_name.clone());
        let mut target = self.vault.dir(folder).join(&name);
        if Some(&target) != current.as_ref() && target.exists() {
            target = self
                .vault
                .dir(folder)
                .join(format!("{}-{id}.md", name.trim_end_matches(".md")));
        }
        let existing = existing_text.as_deref().map(|text| Existing {
            text,
            drop_keys: &drop_keys,
            from_drop_in,
        });
        for warning in self.machine.warnings(id) {
            tracing::warn!(request = %id, "no decision taken: {warning}");
        }
        let text = note::render(req, self.machine.warnings(id), existing, &self.tz);
        let result = (|| {
            if let Some(cur) = current
                .as_ref()
                .filter(|c| **c != target && existing_text.is_some())
            {
                std::fs::rename(cur, &target)?;
            }
            vault::write_atomic(&target, &text)
        })();
        match result {
            Ok(()) => {
                self.written
                    .insert(target.clone(), hex_sha256(text.as_bytes()));
                self.track(id.to_string(), target);
            }
            Err(e) => {
                tracing::error!(request = %id, path = %target.display(), error = %e, "note not written")
            }
        }
    }

    /// Logs a problem with a file once, not at every reconcile.
    fn report(&mut self, path: &Path, problem: String) {
        if self.reported.get(path) != Some(&problem) {
            tracing::warn!(path = %path.display(), "{problem}");
            self.reported.insert(path.to_path_buf(), problem);
        }
    }

    pub(super) fn annotate(&mut self, path: &Path, warning: &str) {
        self.report(path, warning.to_string());
        let cap = self.machine.config().max_note_bytes;
        let Ok(Some(text)) = self.vault.read(path, cap) else {
            return;
        };
        let Some(new) = vault::annotate(&text, warning) else {
            return;
        };
        match vault::write_atomic(path, &new) {
            Ok(()) => {
                self.written
                    .insert(path.to_path_buf(), hex_sha256(new.as_bytes()));
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "warning not written into the note")
            }
        }
    }
}

fn list_dir(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    out
}
