//! The inbox: commands the CLI left in the state folder while the daemon was
//! down. An inbox file is hostile input like a socket line: read only if it
//! is a small regular file (type checked before the open, so a FIFO can't
//! stall the daemon), checked against the wire format, and its actor is the
//! file's owner, not anything it says. A file that fails is moved aside
//! (`NAME.json.refused`) with a log line.
//!
//! Nothing acknowledged is lost: a taken file is removed only once its
//! command is journaled (fsynced), and taking the same file twice is
//! harmless, because a submitted entry's id is its request's id.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::Engine;
use super::commands::Via;
use crate::ipc::{Caller, Command, InboxEntry, MAX_INBOX_FILE};
use crate::journal::JournalError;
use crate::machine::{Effect, Input, Step};

/// What became of an inbox entry.
enum Taken {
    Input(Box<Input>),
    /// Its request is already journaled (the file outlived a crash).
    Already,
    Refused(String),
}

impl Engine {
    /// Journals the inbox's commands before anything slow (the vault's
    /// notes) is read; returns their effects, to be carried out once the
    /// reconcile has found where the notes are.
    pub(super) fn take_inbox_at_start(&mut self) -> Result<Vec<Effect>, JournalError> {
        let now = self.clock.now();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.inbox)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.sort();
        let steps = paths
            .iter()
            .filter_map(|p| self.take_inbox(p, now))
            .collect();
        self.journal_steps(steps)
    }

    /// One inbox file; its removal waits for the next journal append.
    pub(super) fn take_inbox(&mut self, path: &Path, now: Timestamp) -> Option<Step> {
        let name = path.file_name()?.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".json") {
            return None; // the CLI's temp files, and what was set aside
        }
        let (entry, caller) = match read_entry(path) {
            Ok(Some(found)) => found,
            Ok(None) => return None,
            Err(problem) => {
                set_aside(path, &problem);
                return None;
            }
        };
        fail::fail_point!("inbox-after-read");
        let entry_id = entry.id.clone();
        let input = match self.inbox_input(entry, &caller) {
            Taken::Input(input) => input,
            Taken::Already => {
                tracing::info!(path = %path.display(), request = %entry_id, "inbox entry already journaled; removing it");
                self.inbox_taken.push(path.to_path_buf());
                return None;
            }
            Taken::Refused(problem) => {
                set_aside(path, &problem);
                return None;
            }
        };
        self.hydrate_for(&input);
        let step = self.machine.handle(*input, now);
        match &step.reply {
            // Refused by the machine; whatever it did instead (an expiry)
            // is journaled with the batch all the same.
            Some(Err(e)) => set_aside(path, &e.to_string()),
            _ => {
                tracing::info!(path = %path.display(), entry = %entry_id, by = %caller.name, "inbox entry taken");
                self.inbox_taken.push(path.to_path_buf());
            }
        }
        Some(step)
    }

    fn inbox_input(&self, entry: InboxEntry, caller: &Caller) -> Taken {
        let InboxEntry { id, command } = entry;
        if matches!(command, Command::Submit(_))
            && let Some(from_inbox) = self.machine.from_inbox(&id)
        {
            return if from_inbox {
                Taken::Already
            } else {
                Taken::Refused(format!("entry id {id} is another request's id"))
            };
        }
        match self.change_input(command, caller, Via::Inbox, Some(id)) {
            Ok(input) => Taken::Input(Box::new(input)),
            Err(e) => Taken::Refused(e.to_string()),
        }
    }

    /// Removes the inbox files whose commands are now journaled.
    pub(super) fn remove_taken_inbox(&mut self) {
        for path in self.inbox_taken.drain(..) {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                // Harmless: a second take recognises the entry.
                tracing::warn!(path = %path.display(), error = %e, "taken inbox file not removed");
            }
        }
    }
}

/// Reads and checks an inbox file and names its owner. `Ok(None)`: gone.
fn read_entry(path: &Path) -> Result<Option<(InboxEntry, Caller)>, String> {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    // The type is checked before the open: opening a FIFO would block.
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(format!("not readable: {e}")),
        Ok(m) => m,
    };
    check_file(meta.file_type().is_file(), meta.len())?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match file {
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(format!("not readable: {e}")),
        Ok(f) => f,
    };
    // Checked again on what was opened: the path may have been swapped.
    let meta = file.metadata().map_err(|e| format!("not readable: {e}"))?;
    check_file(meta.is_file(), meta.len())?;
    if meta.nlink() > 1 {
        // Its owner would be whoever wrote the file it is a link to.
        return Err("a hard link, not a file the CLI wrote".into());
    }
    let mut text = String::new();
    file.take(MAX_INBOX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("not readable as UTF-8 text: {e}"))?;
    check_file(true, text.len() as u64)?;
    let entry: InboxEntry =
        serde_json::from_str(&text).map_err(|e| format!("not an inbox entry: {e}"))?;
    entry.validate().map_err(|e| e.to_string())?;
    Ok(Some((entry, Caller::from_uid(meta.uid()))))
}

fn check_file(regular: bool, len: u64) -> Result<(), String> {
    if !regular {
        return Err("not a regular file".into());
    }
    if len > MAX_INBOX_FILE {
        return Err(format!("larger than {MAX_INBOX_FILE} bytes"));
    }
    Ok(())
}

/// Moves a file that was not taken out of the way, keeping it for a look.
fn set_aside(path: &Path, problem: &str) {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".refused");
    match std::fs::rename(path, &aside) {
        Ok(()) => {
            tracing::warn!(path = %path.display(), problem, "inbox file refused; moved aside to NAME.refused")
        }
        Err(e) => {
            tracing::error!(path = %path.display(), problem, error = %e, "inbox file refused and not moved aside")
        }
    }
}
