//! `Done/` by month, on the engine's side: where a settled note goes
//! (`Done/2026-11/`, the month of its final state), and the one-time move
//! at start-up of the notes that lie directly in `Done/` (written before
//! the history was kept by month, or put there by hand), each journaled
//! as a `filed` event.

use std::path::PathBuf;

use jiff::Timestamp;

use super::{DaemonError, Engine};
use crate::request::Id;
use crate::vault::{Folder, month_of};

impl Engine {
    /// The folder a note settled at `at` goes to: its month of `Done/`, or
    /// `Done/` itself if that folder can't be made (logged).
    pub(super) fn done_dir(&self, id: &str, at: Timestamp) -> PathBuf {
        let month = month_of(at, &self.tz);
        self.vault.month_dir(&month).unwrap_or_else(|e| {
            tracing::error!(request = %id, %month, error = %e, "no folder for the month; the note stays directly in Done/");
            self.vault.dir(Folder::Done)
        })
    }

    /// Moves the notes of settled requests lying directly in `Done/` into
    /// their month, journaling a `filed` event for each first.
    pub(super) fn file_done_by_month(&mut self) -> Result<(), DaemonError> {
        if self.vault_missing || self.outage.is_some() {
            return Ok(()); // the next start does it
        }
        let done = self.vault.dir(Folder::Done);
        let lying_in_done: Vec<(Id, String)> = self
            .machine
            .requests()
            .values()
            .filter(|r| r.status.is_final())
            .filter(|r| {
                self.files
                    .path_of(&r.id)
                    .is_some_and(|p| p.parent() == Some(done.as_path()))
            })
            .map(|r| (r.id.clone(), month_of(r.settled_at(), &self.tz)))
            .chain(self.settled_in(&done))
            .collect();
        // The folders first: what is journaled as moved can be moved.
        let mut moves = Vec::new();
        for (id, month) in lying_in_done {
            match self.vault.month_dir(&month) {
                Ok(dir) => moves.push((id, month, dir)),
                Err(e) => {
                    tracing::error!(request = %id, %month, error = %e, "no folder for the month; the note stays directly in Done/")
                }
            }
        }
        if moves.is_empty() {
            return Ok(());
        }
        let done_name = &self.vault.folders.done;
        let events: Vec<(Id, String)> = moves
            .iter()
            .map(|(id, month, _)| (id.clone(), format!("{done_name}/{month}")))
            .collect();
        for (id, _) in &events {
            self.hydrate(id);
        }
        let step = self.machine.file_by_month(&events, self.clock.now());
        if let Err(e) = self.journal_steps(vec![step]) {
            return self.enter_outage(e);
        }
        tracing::info!(
            notes = moves.len(),
            "moved the notes lying directly in Done/ into a folder per month"
        );
        self.batched(|engine| {
            for (id, _, dir) in moves {
                engine.write_note_into(&id, None, Some(dir));
            }
        });
        self.arm_watcher()
    }
}
