//! Note writes in batches: the effects of one journaled batch write their
//! notes together, with one flush of the file system and one fsync per
//! folder, instead of two fsyncs per note. A burst of drop-ins then costs
//! a few flushes, not thousands.
//!
//! Rewrites no journaled batch asks for (notes found missing, History
//! lines owed, notes owed since the vault was away) can number thousands
//! at once: they are queued and written [`OWED_CHUNK`] per turn of the
//! engine loop (`bulk.rs`), so a gesture arriving meanwhile waits for one
//! chunk, not for all of them.

use std::collections::{HashMap, HashSet, VecDeque};
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

/// How many owed rewrites one turn of the engine loop writes (one batch,
/// one flush): small enough that a gesture behind them is not kept
/// waiting, large enough that the flush is shared.
pub(super) const OWED_CHUNK: usize = 64;

/// Why a note rewrite is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owed {
    /// Its note was found missing: regenerated, unless the note is seen
    /// again before its turn (moved back, or its file event was late).
    Missing,
    /// Its note must show the request's state (History lines, a change
    /// made while the vault was away): rewritten.
    Rewrite,
}

/// The writes of the batch being carried out, and the rewrites owed.
#[derive(Default)]
pub(super) struct WriteBatch {
    open: bool,
    planned: Vec<NoteWrite>,
    /// Every path the batch will write or move to: a name another note of
    /// the same batch takes is taken, though not on disk yet.
    targets: HashSet<PathBuf>,
    /// Requests whose note is owed a rewrite, in the order asked, each once.
    owed: VecDeque<Id>,
    why: HashMap<Id, Owed>,
    /// Failed writes, owed again after a backoff.
    pub(super) retries: super::write_retry::WriteRetries,
}

impl WriteBatch {
    pub(super) fn takes(&self, path: &PathBuf) -> bool {
        self.targets.contains(path)
    }

    /// Whether rewrites are waiting for a turn of the loop.
    pub(super) fn owed(&self) -> bool {
        !self.owed.is_empty()
    }

    /// Queues the rewrite of `id`'s note; a rewrite owed for both reasons
    /// is a plain [`Owed::Rewrite`].
    fn owe(&mut self, id: &str, why: Owed) {
        match self.why.get_mut(id) {
            Some(was) => {
                if why == Owed::Rewrite {
                    *was = Owed::Rewrite;
                }
            }
            None => {
                self.why.insert(id.to_string(), why);
                self.owed.push_back(id.to_string());
            }
        }
    }

    /// The next `n` owed rewrites, taken off the queue.
    fn take_owed(&mut self, n: usize) -> Vec<(Id, Owed)> {
        let n = n.min(self.owed.len());
        self.owed
            .drain(..n)
            .filter_map(|id| self.why.remove(&id).map(|why| (id, why)))
            .collect()
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
        self.batched(|engine| {
            for effect in one_write_per_request(effects) {
                engine.carry_out(effect);
            }
        });
    }

    /// Runs `f` with its note writes planned, then writes them together.
    pub(super) fn batched(&mut self, f: impl FnOnce(&mut Self)) {
        let nested = self.writes.open;
        self.writes.open = true;
        f(self);
        if !nested {
            self.writes.open = false;
            self.flush_writes();
        }
    }

    /// Owes `id`'s note a rewrite, written at a later turn of the loop.
    pub(super) fn owe_rewrite(&mut self, id: &str, why: Owed) {
        self.writes.owe(id, why);
    }

    /// Writes the next [`OWED_CHUNK`] owed rewrites, as one batch.
    pub(super) fn write_owed_chunk(&mut self) {
        fail::fail_point!("owed-rewrite-chunk");
        let chunk = self.writes.take_owed(OWED_CHUNK);
        let notes = chunk.len();
        self.batched(|engine| {
            for (id, why) in chunk {
                match why {
                    // A note seen since it was found missing is not missing.
                    Owed::Missing if engine.files.path_of(&id).is_some() => {}
                    // Regenerated where it belongs (a drop-in that can't be
                    // written over gets its note beside it).
                    Owed::Missing => engine.write_note(&id, None),
                    Owed::Rewrite => {
                        let (adopt, into) = engine.writes.retries.redo(&id);
                        engine.write_note_into(&id, adopt, into);
                    }
                }
            }
        });
        tracing::debug!(
            notes,
            left = self.writes.owed.len(),
            "wrote owed note rewrites"
        );
    }

    /// Writes every owed rewrite but the missing notes now (hitl is
    /// stopping; the next start finds those missing again).
    pub(super) fn write_all_owed(&mut self) {
        self.owe_due_write_retries(true);
        let owed = self.writes.take_owed(usize::MAX);
        self.batched(|engine| {
            for (id, why) in owed {
                if why == Owed::Rewrite {
                    let (adopt, into) = engine.writes.retries.redo(&id);
                    engine.write_note_into(&id, adopt, into);
                }
            }
        });
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
                    self.write_failed(w, &e);
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
                    tracing::error!(request = %w.id, from = %w.at.display(), to = %w.to.display(), error = %e, "note not moved");
                    self.write_failed(w, &e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owed_rewrite_is_queued_once_in_order_and_a_plain_rewrite_wins() {
        let mut batch = WriteBatch::default();
        batch.owe("a", Owed::Missing);
        batch.owe("b", Owed::Rewrite);
        batch.owe("a", Owed::Rewrite);
        batch.owe("b", Owed::Missing);
        batch.owe("c", Owed::Missing);
        assert_eq!(
            batch.take_owed(2),
            [
                ("a".to_string(), Owed::Rewrite),
                ("b".to_string(), Owed::Rewrite)
            ]
        );
        assert!(batch.owed());
        assert_eq!(batch.take_owed(9), [("c".to_string(), Owed::Missing)]);
        assert!(!batch.owed());
    }

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
