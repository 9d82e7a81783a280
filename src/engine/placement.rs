//! Where a request's note goes, as pure functions: the folder its state
//! belongs in, and the directory and file name it is written under.

use std::path::{Path, PathBuf};

use crate::request::Status;
use crate::vault::Folder;

/// Where a note is written: in the folder it belongs in (`folder`, whose
/// directory is `folder_dir`), staying in its own subfolder when it is
/// already there (a month of `Done/`); under its current file name, or the
/// request's own for a note written afresh.
pub(crate) fn note_place(
    current: Option<&Path>,
    now_in: Option<Folder>,
    folder: Folder,
    folder_dir: PathBuf,
    own_name: &str,
) -> (PathBuf, String) {
    let dir = match current.and_then(Path::parent) {
        Some(parent) if now_in == Some(folder) => parent.to_path_buf(),
        _ => folder_dir,
    };
    let name = current.and_then(Path::file_name).map_or_else(
        || own_name.to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    (dir, name)
}

/// The folder a request's note belongs in: `Done/` once final; else the
/// folder it is in now (a decision folder is where a gesture happened), or
/// by state for a note written afresh.
pub(crate) fn note_folder(status: &Status, now_in: Option<Folder>) -> Folder {
    match now_in {
        _ if status.is_final() => Folder::Done,
        Some(f) => f,
        None if *status == Status::Pending => Folder::Pending,
        None => Folder::Approved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    #[test]
    fn which_folder_a_note_belongs_in() {
        use Folder::*;
        let decision = crate::request::Decision {
            approved: true,
            by: "cli:alice".into(),
            at: Timestamp::UNIX_EPOCH,
            reason: None,
        };
        let executing = Status::Executing {
            decision: decision.clone(),
            started: Timestamp::UNIX_EPOCH,
        };
        let running = Status::ApprovedToRun {
            decision: decision.clone(),
        };
        let approved_only = Status::Approved {
            decision: decision.clone(),
        };
        let rejected = Status::Rejected {
            decision: crate::request::Decision {
                approved: false,
                ..decision
            },
        };
        // (state, folder it is in now) -> folder it belongs in
        let table = [
            (Status::Pending, None, Pending),
            (Status::Pending, Some(Approved), Approved),
            (Status::Pending, Some(Pending), Pending),
            (running.clone(), None, Approved),
            (running, Some(Pending), Pending),
            (executing, Some(Approved), Approved),
            (approved_only, Some(Approved), Done),
            (rejected, Some(Rejected), Done),
            (Status::Expired, None, Done),
            (
                Status::Cancelled {
                    by: "cli:alice".into(),
                    at: Timestamp::UNIX_EPOCH,
                    reason: None,
                },
                Some(Done),
                Done,
            ),
        ];
        for (status, now_in, want) in table {
            assert_eq!(note_folder(&status, now_in), want, "{status:?} {now_in:?}");
        }
    }

    #[test]
    fn where_a_note_is_written_and_under_which_name() {
        use Folder::*;
        let p = |s: &str| PathBuf::from(s);
        let dir_of = |f: Folder| p(&format!("/v/{f:?}"));
        let done = || p("/v/Done");
        // (where it is, the folder that is, the folder it belongs in) ->
        // (directory, file name); the request's own name is `own.md`.
        let table = [
            (None, None, Pending, p("/v/Pending"), "own.md"),
            (
                Some("/v/Pending/x.md"),
                Some(Pending),
                Pending,
                p("/v/Pending"),
                "x.md",
            ),
            (
                Some("/v/Approved/x.md"),
                Some(Approved),
                Done,
                done(),
                "x.md",
            ),
            (
                Some("/v/Done/2026-03/x.md"),
                Some(Done),
                Done,
                p("/v/Done/2026-03"),
                "x.md",
            ),
            (Some("/v/gone/x.md"), None, Done, done(), "x.md"),
        ];
        for (current, now_in, folder, want_dir, want_name) in table {
            let got = note_place(
                current.map(Path::new),
                now_in,
                folder,
                dir_of(folder),
                "own.md",
            );
            assert_eq!(
                got,
                (want_dir, want_name.to_string()),
                "{current:?} {now_in:?}"
            );
        }
    }
}
