//! Bulk work the engine does in chunks, between inputs: deciding on the
//! thousands of notes a reconcile may have read (`reads.rs`), and writing
//! the notes owed a rewrite (`writes.rs`). The loop's branch for it runs
//! only when no other input is ready, so a gesture, a command or a
//! handler's result waits for at most one chunk, never for all of them.

use super::{DaemonError, Engine};

/// Ready only at its second poll: the loop's branch for bulk work gives
/// way to every other branch ready at the same time.
pub(super) async fn after_the_rest() {
    tokio::task::yield_now().await;
}

impl Engine {
    /// Whether bulk work waits for a turn of the loop.
    pub(super) fn has_bulk_work(&self) -> bool {
        self.scan.deciding() || self.writes.owed()
    }

    /// One chunk of bulk work: a reconcile's decisions first (they may
    /// find notes missing, owing rewrites), then owed rewrites.
    pub(super) fn bulk_work(&mut self) -> Result<(), DaemonError> {
        if self.scan.deciding() {
            self.decide_scanned_chunk()?;
        } else {
            self.write_owed_chunk();
        }
        if !self.has_bulk_work() {
            // What the bulk work freed goes back (docs/perf-memory.md).
            crate::memory::trim("bulk work");
        }
        Ok(())
    }
}
