//! Reading decisions out of notes: the vault gestures, tampering, and the
//! warnings a note gets when it says something the daemon can't act on.

use std::path::PathBuf;

use jiff::Timestamp;

use super::{Decide, Effect, Folder, Machine, SeenNote, Step, drop_in_request};
use crate::note::{self, NoteError, NoteView};
use crate::payload;
use crate::request::{Actor, EventKind, Gesture, Id, Status, VaultGesture};

impl Machine {
    pub(super) fn observe(&mut self, step: &mut Step, seen: SeenNote, now: Timestamp) {
        let SeenNote {
            path,
            folder,
            view,
            tracked,
            fresh_id,
        } = seen;
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
        if !self.knows(&id) {
            let warning = format!(
                "`hitl_id: {id}` is not in hitl's journal: this note is not a request and will not run"
            );
            return step.effects.push(Effect::Annotate { path, warning });
        }
        if view.code.is_none() {
            self.code_cleared(&id);
        }
        if self.in_window(&id)
            && let Some(decision) = revocation(&id, folder, &view)
        {
            let _ = self.decide(step, decision, now);
            return;
        }
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        if req.status != Status::Pending {
            // A settled request's note is a view: put back whatever was
            // edited where only hitl writes (the rewrite keeps the rest).
            let changes = note::changes(req, &view, &self.tz, true);
            let misplaced = req.status.is_final() && folder != Folder::Done;
            if !changes.what.is_empty() || changes.annotated || misplaced {
                step.effects.push(Effect::WriteNote { id, adopt: None });
            }
            return;
        }
        if now >= req.sub.expires {
            // Past its deadline a request takes no decision and no edit.
            return self.expire_due(step, now);
        }
        if !view.has_decision {
            // Perhaps read mid-save: no decision until it reads back whole.
            let warning = "this note has no `## Decision` section (cut short, or being saved?): no decision taken until hitl puts it back".to_string();
            return self.set_warnings(step, &id, vec![warning]);
        }
        let changes = note::changes(req, &view, &self.tz, false);
        let found_sha256 = shown_payload(&view, &req.sub.payload_sha256);
        if !changes.what.is_empty() || found_sha256.is_some() {
            let kind = EventKind::Tampered {
                found_sha256,
                changed: changes.what,
            };
            return self.finish_pending(step, now, &id, &Actor::Vault, kind);
        }
        self.gestures(step, &id, folder, &view, now);
        let rewrite = Effect::WriteNote { id, adopt: None };
        if changes.annotated && !step.effects.contains(&rewrite) {
            // hitl's own warning from when the note was unreadable goes.
            step.effects.push(rewrite);
        }
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
            Folder::Approved => approve.push(VaultGesture::MovedToApproved),
            Folder::Rejected => reject.push(VaultGesture::MovedToRejected),
            Folder::Pending | Folder::Done => {}
        }
        match view
            .status
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("pending") => {}
            Some("approved") => approve.push(VaultGesture::StatusProperty),
            Some("rejected") => reject.push(VaultGesture::StatusProperty),
            Some(_) => warnings.push(format!(
                "unknown status `{}`: set `status` to `approved` or `rejected`",
                view.status.as_deref().unwrap_or_default()
            )),
        }
        warnings.extend(view.task_problems.iter().cloned());
        if view.ticked_approve {
            approve.push(VaultGesture::TickedApprove);
        }
        if view.ticked_reject {
            reject.push(VaultGesture::TickedReject);
        }
        let reason = view.decision_reason.clone();
        match (approve.is_empty(), reject.is_empty()) {
            (false, false) => warnings.push(format!(
                "conflicting decisions ({} vs {}): no decision taken; undo one of them",
                Gesture::Vault(approve),
                Gesture::Vault(reject)
            )),
            (false, true) | (true, false) if warnings.is_empty() => {
                let approves = !approve.is_empty();
                if super::is_blank(reason.as_deref()) && self.needs_reason(id, approves) {
                    let what = if approves {
                        "an approval"
                    } else {
                        "a rejection"
                    };
                    warnings.push(format!(
                        "{what} needs a reason here: fill in the `decision_reason` property; no decision taken"
                    ));
                } else {
                    let gestures = if approves { &approve } else { &reject };
                    let code = view.code.clone();
                    let decision = vault_decision(id, approves, reason, gestures, code);
                    match self.decide(step, decision, now) {
                        Ok(_) => return,
                        // The trust gate's answer is shown in the note.
                        Err(refusal) => warnings.push(refusal.to_string()),
                    }
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
        let rewrite = Effect::WriteNote {
            id: id.to_string(),
            adopt: None,
        };
        if !step.effects.contains(&rewrite) {
            step.effects.push(rewrite);
        }
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

/// A decision gesture in the vault: `gestures` names what was done.
fn vault_decision(
    id: &str,
    approve: bool,
    reason: Option<String>,
    gestures: &[VaultGesture],
    code: Option<String>,
) -> Decide {
    Decide {
        id: id.into(),
        approve,
        reason,
        by: Actor::Vault,
        gesture: Gesture::Vault(gestures.to_vec()),
        code,
    }
}

/// A rejection gesture on an approved note in its undo window.
fn revocation(id: &str, folder: Folder, view: &NoteView) -> Option<Decide> {
    let mut gestures = Vec::new();
    if folder == Folder::Rejected {
        gestures.push(VaultGesture::MovedToRejected);
    }
    if view
        .status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("rejected"))
    {
        gestures.push(VaultGesture::StatusProperty);
    }
    if view.ticked_reject {
        gestures.push(VaultGesture::TickedReject);
    }
    let reason = view.decision_reason.clone();
    (!gestures.is_empty()).then(|| vault_decision(id, false, reason, &gestures, None))
}

/// The hash of the payload the note shows, when it is readable and not
/// the journal's.
fn shown_payload(view: &NoteView, journal_sha: &str) -> Option<String> {
    view.payload_block
        .as_deref()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .map(|v| payload::sha256(&v))
        .filter(|h| h != journal_sha)
}
