//! Note writes in batches: the effects of one journaled batch write their
//! notes together, with one flush of the file system and one fsync per
//! folder, instead of two fsyncs per note. A burst of drop-ins then costs
//! a few flushes, not thousands.

use std::collections::HashSet;
use std::path::PathBuf;

use super::Engine;
use crate::machine::Effect;
use crate::request::Id;
use crate::vault;

/// A note write planned while a batch is open.
struct Planned {
    id: Id,
    text: String,
    /// Written here first...
    at: PathBuf,
    /// ...then moved here (the same path when it stays).
    to: PathBuf,
}

/// The writes of the batch being carried out.
#[derive(Default)]
pub(super) struct WriteBatch {
    open: bool,
    planned: Vec<Planned>,
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

    /// Writes `text` as the note of `id` at `at`, then moves it to `to`:
    /// now, or with the batch if one is open.
    pub(super) fn plan_write(&mut self, id: &str, text: String, at: PathBuf, to: PathBuf) {
        if !self.writes.open {
            return self.place_note(id, &text, (at != to).then_some(at), to);
        }
        self.writes.targets.insert(at.clone());
        self.writes.targets.insert(to.clone());
        self.writes.planned.push(Planned {
            id: id.to_string(),
            text,
            at,
            to,
        });
    }

    fn flush_writes(&mut self) {
        let planned = std::mem::take(&mut self.writes.planned);
        self.writes.targets.clear();
        if planned.is_empty() {
            return;
        }
        let files: Vec<_> = planned
            .iter()
            .map(|w| (w.at.as_path(), w.text.as_str()))
            .collect();
        let written = vault::write_atomic_all(&files);
        let mut moving = Vec::new();
        for (w, result) in planned.iter().zip(written) {
            if let Err(e) = result {
                tracing::error!(request = %w.id, path = %w.at.display(), error = %e, "note not written");
                continue;
            }
            self.files.wrote(&w.at, &w.text, Some(&w.id));
            self.files.track(&w.id, w.at.clone());
            if w.at != w.to {
                moving.push(w);
            }
        }
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
                Ok(()) => {
                    self.files.wrote(&w.to, &w.text, Some(&w.id));
                    self.files.track(&w.id, w.to.clone());
                }
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
