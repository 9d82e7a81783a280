//! Note writes in batches: the effects of one journaled batch write their
//! notes together, with one flush of the file system and one fsync per
//! folder, instead of two fsyncs per note. A burst of drop-ins then costs
//! a few flushes, not thousands.

use std::collections::HashSet;
use std::path::PathBuf;

use super::Engine;
use crate::machine::Effect;
use crate::request::Id;
use crate::vault::{self, Stamp};

/// One note rewrite, now or with the batch.
pub(super) struct NoteWrite {
    pub id: Id,
    pub text: String,
    /// Written here first...
    pub at: PathBuf,
    /// ...then moved here (the same path when it stays).
    pub to: PathBuf,
    /// The version of `at` the text was rendered from: it is replaced only
    /// if still that one (see [`vault::write_atomic_if`]).
    pub expect: Option<Option<Stamp>>,
    /// The note's used approval code goes with this write.
    pub clear_code: bool,
    /// How it was asked for, to redo it from a fresh read if the note
    /// changed before the batch's rename.
    pub adopt: Option<(PathBuf, Vec<String>)>,
    pub into: Option<PathBuf>,
}

/// The writes of the batch being carried out.
#[derive(Default)]
pub(super) struct WriteBatch {
    open: bool,
    planned: Vec<NoteWrite>,
    /// Every path the batch will write or move to: a name another note of
    /// the same batch takes is taken, though not on disk yet.
    targets: HashSet<PathBuf>,
}

impl WriteBatch {
    pub(super) fn takes(&self, path: &PathBuf) -> bool {
        self.targets.contains(path)
    }
}

/// One note write per request: a request rewritten twice in a batch is
/// written once, in its final state, adopting the drop-in it came from.
fn one_write_per_request(effects: Vec<Effect>) -> Vec<Effect> {
    let mut out: Vec<Effect> = Vec::with_capacity(effects.len());
    let mut at: std::collections::HashMap<Id, usize> = std::collections::HashMap::new();
    for effect in effects {
        if let Effect::WriteNote { id, adopt } = &effect
            && let Some(i) = at.get(id)
        {
            if let (Effect::WriteNote { adopt: first, .. }, Some(a)) = (&mut out[*i], adopt)
                && first.is_none()
            {
                *first = Some(a.clone());
            }
            continue;
        }
        if let Effect::WriteNote { id, .. } = &effect {
            at.insert(id.clone(), out.len());
        }
        out.push(effect);
    }
    out
}

impl Engine {
    /// Carries out a journaled batch's effects, its note writes together.
    pub(super) fn carry_out_all(&mut self, effects: Vec<Effect>) {
        self.writes.open = true;
        for effect in one_write_per_request(effects) {
            self.carry_out(effect);
        }
        self.writes.open = false;
        self.flush_writes();
    }

    /// Writes a note now, or with the batch if one is open. `false`: the
    /// note changed since it was read, nothing was written (a batched
    /// write that meets such a change is redone after the batch).
    pub(super) fn plan_write(&mut self, w: NoteWrite) -> bool {
        if !self.writes.open {
            return self.place_note(w);
        }
        self.writes.targets.insert(w.at.clone());
        self.writes.targets.insert(w.to.clone());
        self.writes.planned.push(w);
        true
    }

    fn flush_writes(&mut self) {
        let planned = std::mem::take(&mut self.writes.planned);
        self.writes.targets.clear();
        if planned.is_empty() {
            return;
        }
        let files: Vec<_> = planned
            .iter()
            .map(|w| vault::BatchWrite {
                path: &w.at,
                contents: &w.text,
                read: w.expect,
            })
            .collect();
        let written = vault::write_atomic_all(&files);
        let mut moving = Vec::new();
        let mut changed = Vec::new();
        for (w, result) in planned.iter().zip(written) {
            match result {
                Ok(true) => self.note_written(w),
                Ok(false) => {
                    changed.push(w);
                    continue;
                }
                Err(e) => {
                    tracing::error!(request = %w.id, path = %w.at.display(), error = %e, "note not written");
                    continue;
                }
            }
            if w.at != w.to {
                moving.push(w);
            }
        }
        self.move_all(&moving);
        for w in changed {
            tracing::debug!(request = %w.id, "note changed while being rewritten; again from a fresh read");
            self.write_note_into(&w.id, w.adopt.clone(), w.into.clone());
        }
    }

    fn move_all(&mut self, moving: &[&NoteWrite]) {
        if moving.is_empty() {
            return;
        }
        fail::fail_point!("note-between-write-and-move");
        let moves: Vec<_> = moving
            .iter()
            .map(|w| (w.at.as_path(), w.to.as_path()))
            .collect();
        for (w, result) in moving.iter().zip(vault::move_notes(&moves)) {
            match result {
                Ok(()) => self.note_moved(w),
                Err(e) => {
                    tracing::error!(request = %w.id, from = %w.at.display(), to = %w.to.display(), error = %e, "note not moved")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_rewritten_twice_in_a_batch_is_written_once_adopting_its_drop_in() {
        let w = |id: &str, adopt: Option<&str>| Effect::WriteNote {
            id: id.into(),
            adopt: adopt.map(|p| (PathBuf::from(p), vec!["action".to_string()])),
        };
        let got = one_write_per_request(vec![
            w("a", None),
            w("b", Some("/v/b.md")),
            w("a", Some("/v/a.md")),
            w("b", None),
        ]);
        assert_eq!(got, vec![w("a", Some("/v/a.md")), w("b", Some("/v/b.md"))]);
    }
}
