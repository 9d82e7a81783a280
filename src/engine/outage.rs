//! When the journal can't be written at run time (disk full, read-only,
//! I/O error, the file moved away): the daemon stays up, says why in
//! `hitl status`, takes no new work and starts no handler, and resumes by
//! itself once an append can go through again.
//!
//! The state in memory never runs ahead of the journal: a batch that could
//! not be journaled is undone by rebuilding the state from the journal's
//! records, its callers get an error, and none of its effects happen.

use std::time::Duration;

use jiff::Timestamp;

use super::{DaemonError, Engine, systemd};
use crate::journal::JournalError;

/// How often an append is tried again during an outage.
pub(super) const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub(super) struct Outage {
    /// What happened and what to do, for `hitl status` and the log.
    pub(super) reason: String,
    pub(super) since: Timestamp,
}

impl Engine {
    /// A batch could not be journaled: go back to the journal's state and
    /// stop taking work. Fails only if the journal can't even be read back.
    pub(super) fn enter_outage(&mut self, error: JournalError) -> Result<(), DaemonError> {
        let reason = explain(&error);
        if self.outage.as_ref().map(|o| &o.reason) != Some(&reason) {
            tracing::error!(
                journal = %self.journal.path().display(),
                "{reason}"
            );
        }
        let since = self.outage.as_ref().map_or(self.clock.now(), |o| o.since);
        self.outage = Some(Outage { reason, since });
        let records = self.journal.records().map_err(DaemonError::Outage)?;
        self.machine = self.machine.rebuild(records.iter().map(|r| &r.event))?;
        self.last_event = records.last().map(|r| r.event.time);
        self.tell_systemd();
        Ok(())
    }

    pub(super) fn outage_reason(&self) -> Option<String> {
        self.outage.as_ref().map(|o| o.reason.clone())
    }

    /// On the retry timer: if an append could go through now, resume: the
    /// start-up recovery if it is still owed, the handler results that came
    /// meanwhile, and a full reconcile for the notes and inbox changed
    /// meanwhile.
    pub(super) fn try_resume(&mut self) -> Result<(), DaemonError> {
        if let Err(e) = self.journal.probe() {
            let reason = explain(&e);
            if let Some(o) = self.outage.as_mut()
                && o.reason != reason
            {
                tracing::error!(journal = %self.journal.path().display(), "{reason}");
                o.reason = reason;
            }
            return Ok(());
        }
        let Some(was) = self.outage.take() else {
            return Ok(());
        };
        let secs = self.clock.now().as_second() - was.since.as_second();
        tracing::info!(
            down_s = secs,
            "the journal can be written again; taking new work"
        );
        self.tell_systemd();
        systemd::ready(&self.last_status);
        for (id, ran) in std::mem::take(&mut self.held) {
            if self.outage.is_some() {
                self.held.push((id, ran));
            } else {
                self.handler_done(id, ran)?;
            }
        }
        if self.outage.is_none() {
            if self.recovered {
                self.reconcile()?;
            } else {
                self.recover_and_reconcile()?;
            }
        }
        Ok(())
    }
}

/// What happened, that nothing journaled is lost, and what to do.
fn explain(error: &JournalError) -> String {
    const STOPPED: &str = "Nothing journaled is lost. Until it can write again, hitl takes no new work and starts no handler; it retries every second and resumes by itself.";
    match error {
        JournalError::Replaced { path, what } => format!(
            "the journal {} was {what} while hitl was running, so hitl no longer writes it. Nothing journaled is lost: the file hitl has open holds every event. Put it back at {} as hitl wrote it to resume, or stop hitl and decide which file is the record.",
            path.display(),
            path.display()
        ),
        JournalError::Io { path, error } => {
            let what = match error.raw_os_error() {
                Some(libc::ENOSPC | libc::EDQUOT) => {
                    "the disk is full; free some space on it".to_string()
                }
                Some(libc::EROFS) => {
                    "its file system is read-only (remounted after a disk error?); make it writable"
                        .to_string()
                }
                Some(libc::EPERM | libc::EACCES) => {
                    "writing it is not permitted (an immutable or read-only file?); make it writable"
                        .to_string()
                }
                Some(libc::EIO) => {
                    "the disk reported an I/O error; check the disk (dmesg)".to_string()
                }
                _ => "fix the cause".to_string(),
            };
            format!(
                "the journal {} could not be written ({error}): {what}. {STOPPED}",
                path.display()
            )
        }
        JournalError::Damaged { .. } | JournalError::Key { .. } => format!("{error}. {STOPPED}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_says_what_happened_and_that_nothing_is_lost() {
        let full = JournalError::Io {
            path: "/s/journal.jsonl".into(),
            error: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        let text = explain(&full);
        assert!(text.contains("the disk is full"), "{text}");
        assert!(text.contains("Nothing journaled is lost"), "{text}");
        assert!(!text.contains("move it aside"), "{text}");
        let ro = JournalError::Io {
            path: "/s/journal.jsonl".into(),
            error: std::io::Error::from_raw_os_error(libc::EROFS),
        };
        assert!(explain(&ro).contains("read-only"));
        let moved = JournalError::Replaced {
            path: "/s/journal.jsonl".into(),
            what: "moved to /tmp/j".into(),
        };
        let text = explain(&moved);
        assert!(
            text.contains("moved to /tmp/j") && text.contains("Put it back"),
            "{text}"
        );
    }
}
