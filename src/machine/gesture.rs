//! Reading decisions out of notes: the vault gestures, tampering, and the
//! warnings a note gets when it says something the daemon can't act on.

use std::path::PathBuf;

use jiff::Timestamp;

use super::{Effect, Folder, Machine, Step, drop_in_request};
use crate::note::{NoteError, NoteView};
use crate::payload;
use crate::request::{EventKind, Id, Status};

impl Machine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn observe(
        &mut self,
        step: &mut Step,
        path: PathBuf,
        folder: Folder,
        view: Result<NoteView, NoteError>,
        tracked: Option<Id>,
        fresh_id: Id,
        now: Timestamp,
    ) {
        let view = match view {
            Ok(v) => v,
            Err(NoteError::Unterminated) => return, // still being written; logged by the loop
            Err(e) => return self.unreadable(step, path, tracked, e),
        };
        let Some(id) = view.hitl_id.clone() else {
            if folder == Folder::Pending {
                return self.ingest(step, path, &view, fresh_id, now);
            }
            let warning = "this note has no `hitl_id`: only notes in the pending folder are taken as new requests".to_string();
            return step.effects.push(Effect::Annotate { path, warning });
        };
        let Some(req) = self.requests.get(&id) else {
            let warning = format!(
                "`hitl_id: {id}` is not in hitl's journal: this note is not a request and will not run"
            );
            return step.effects.push(Effect::Annotate { path, warning });
        };
        if req.status != Status::Pending {
            // A settled request's note is a view: restore it if it was edited.
            let stale = view.status.as_deref() != Some(req.status.name());
            if stale || (req.status.is_final() && folder != Folder::Done) {
                step.effects.push(Effect::WriteNote { id, adopt: None });
            }
            return;
        }
        match shown_payload(&view, &req.sub.payload_sha256) {
            Shown::Same => {}
            Shown::Changed(found) => {
                let kind = EventKind::Tampered {
                    found_sha256: Some(found),
                };
                return self.finish_pending(step, now, &id, "vault", kind);
            }
            Shown::Unreadable => {
                // Perhaps read mid-save: no decision until it reads back whole.
                let warning = "the payload block can't be read (missing or not JSON): no decision taken until it is restored".to_string();
                return self.set_warnings(step, &id, vec![warning]);
            }
        }
        self.gestures(step, &id, folder, &view, now);
    }

    fn unreadable(&mut self, step: &mut Step, path: PathBuf, tracked: Option<Id>, e: NoteError) {
        let warning = format!("hitl could not read this note, so no decision was taken: {e}");
        match tracked.filter(|id| {
            self.requests
                .get(id)
                .is_some_and(|r| r.status == Status::Pending)
        }) {
            Some(id) => self.set_warnings(step, &id, vec![warning]),
            None => step.effects.push(Effect::Annotate { path, warning }),
        }
    }

    fn gestures(
        &mut self,
        step: &mut Step,
        id: &str,
        folder: Folder,
        view: &NoteView,
        now: Timestamp,
    ) {
        let mut approve = Vec::new();
        let mut reject = Vec::new();
        let mut warnings = Vec::new();
        match folder {
            Folder::Approved => approve.push("moved to the approved folder"),
            Folder::Rejected => reject.push("moved to the rejected folder"),
            Folder::Pending | Folder::Done => {}
        }
        match view
            .status
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("pending") => {}
            Some("approved") => approve.push("status property"),
            Some("rejected") => reject.push("status property"),
            Some(_) => warnings.push(format!(
                "unknown status `{}`: set `status` to `approved` or `rejected`",
                view.status.as_deref().unwrap_or_default()
            )),
        }
        if view.ticked_approve {
            approve.push("ticked Approve");
        }
        if view.ticked_reject {
            reject.push("ticked Reject");
        }
        let reason = view.decision_reason.clone();
        match (approve.is_empty(), reject.is_empty()) {
            (false, false) => warnings.push(format!(
                "conflicting decisions ({} vs {}): no decision taken; undo one of them",
                approve.join(", "),
                reject.join(", ")
            )),
            (false, true) if warnings.is_empty() => {
                let _ = self.decide(step, id, true, reason, "vault", &approve.join(", "), now);
                return;
            }
            (true, false) if warnings.is_empty() => {
                if self.config.reject_reason_required && reason.is_none() {
                    warnings.push("a rejection needs a reason: fill in `decision_reason`".into());
                } else {
                    let _ = self.decide(step, id, false, reason, "vault", &reject.join(", "), now);
                    return;
                }
            }
            _ => {}
        }
        self.set_warnings(step, id, warnings);
    }

    /// Shows `warnings` in the note, rewriting it only when they change.
    fn set_warnings(&mut self, step: &mut Step, id: &str, warnings: Vec<String>) {
        if self.warnings(id) == warnings.as_slice() {
            return;
        }
        if warnings.is_empty() {
            self.warnings.remove(id);
        } else {
            self.warnings.insert(id.to_string(), warnings);
        }
        step.effects.push(Effect::WriteNote {
            id: id.to_string(),
            adopt: None,
        });
    }

    fn ingest(
        &mut self,
        step: &mut Step,
        path: PathBuf,
        view: &NoteView,
        fresh_id: Id,
        now: Timestamp,
    ) {
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        match drop_in_request(view, fresh_id, file_name) {
            Ok((nr, consumed)) => {
                if let Err(e) = self.submit(step, nr, now, Some((path.clone(), consumed))) {
                    let warning = format!("hitl could not take this request: {e}");
                    step.effects.push(Effect::Annotate { path, warning });
                }
            }
            Err(warning) => step.effects.push(Effect::Annotate { path, warning }),
        }
    }
}

enum Shown {
    Same,
    /// A readable payload that is not the journal's: tampered.
    Changed(String),
    Unreadable,
}

fn shown_payload(view: &NoteView, journal_sha: &str) -> Shown {
    let found = view
        .payload_block
        .as_deref()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .map(|v| payload::sha256(&v));
    match found {
        Some(h) if h == journal_sha => Shown::Same,
        Some(h) => Shown::Changed(h),
        None => Shown::Unreadable,
    }
}
