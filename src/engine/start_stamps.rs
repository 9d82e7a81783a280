//! The note stamps across a restart, on the engine's side: written down
//! next to each checkpoint, and taken at start-up so that the start's
//! reconcile reads only the notes that changed while hitl was down (the
//! file itself is `stamp_file.rs`).
//!
//! A note of the last run is trusted unread only if the stamp file's MAC
//! checks under the journal key, the journal still holds the head the file
//! names (so it was written for this journal), the note's request has no
//! event journaled after that head, and the note's stamp, taken now, is
//! the one written down (its change time can't be set back by the agent).

use std::collections::HashSet;

use super::Engine;
use super::note_index::StartReads;
use super::stamp_file::{self, Entry, Unusable};
use crate::request::Id;

impl Engine {
    /// Writes the stamps down for the next start. A failure costs only
    /// start-up time (every note is read then).
    pub(super) fn save_stamps(&mut self) {
        let Some(resume) = self.journal.resume_point() else {
            return; // nothing journaled yet
        };
        let entries = self.files.persisted().map(|(path, known, id)| Entry {
            path,
            known: *known,
            id: id.clone(),
        });
        let root = &self.vault.root;
        match stamp_file::write(&self.state_dir, root, resume, self.journal.chain(), entries) {
            Ok(notes) => tracing::debug!(notes, "note stamps written"),
            Err(error) => {
                tracing::warn!(%error, "could not write the note stamps; the next start reads every note")
            }
        }
    }

    /// Takes the last run's stamps for the start-up's reconcile, as far as
    /// they can be trusted; says whether they were used, or why not (also
    /// logged: then every note is read).
    pub(super) fn seed_stamps(&mut self) -> String {
        let started = super::scan::thread_cpu();
        match self.load_stamps() {
            Ok((notes, changed)) => {
                tracing::info!(
                    notes,
                    changed_since = changed,
                    cpu_ms = super::scan::thread_cpu()
                        .saturating_sub(started)
                        .as_millis() as u64,
                    "using the last run's note stamps: notes unchanged since are not read"
                );
                "used".into()
            }
            Err(Unusable::Missing) => {
                tracing::info!("no note stamps from the last run: reading every note");
                "none".into()
            }
            Err(why) => {
                tracing::warn!(%why, "the last run's note stamps can't be used: reading every note");
                format!("not used: {why}")
            }
        }
    }

    /// The stamps of notes whose request has no event after the file's
    /// journal head, seeded into the note index; how many, and how many
    /// requests changed since.
    fn load_stamps(&mut self) -> Result<(usize, usize), Unusable> {
        let loaded = stamp_file::load(&self.state_dir, &self.vault.root, self.journal.chain())?;
        let mut changed: HashSet<Id> = HashSet::new();
        crate::journal::for_each_after(self.journal.path(), &loaded.resume, |rec| {
            changed.insert(rec.event.request);
        })
        .map_err(|e| Unusable::Stale(e.to_string()))?;
        let mut notes = 0;
        // Every id in the file was a request's when it was written, and the
        // journal is the one it was written for: each is one still.
        for e in loaded.entries {
            // An archived request's note is no longer tracked.
            if changed.contains(&e.id) || self.archived(&e.id) {
                continue;
            }
            self.files.seed(e.path, e.known, e.id);
            notes += 1;
        }
        Ok((notes, changed.len()))
    }

    /// What the start-up's reconcile read, for `hitl status`.
    pub(super) fn start_reads(&self) -> &StartReads {
        self.files.start_reads()
    }
}
