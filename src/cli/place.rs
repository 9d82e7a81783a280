//! What every command shares: where the config, vault and state are, the
//! exit codes, and the journal read back. Its own module so the commands
//! and the socket client use it without importing each other.

use std::path::PathBuf;

use anyhow::Result;

use super::output;
use crate::config::Config;
use crate::machine::Machine;

/// Exit code of a command that failed.
pub(super) const ERROR: u8 = 1;
/// Exit code of `hitl wait` when its time ran out.
pub(super) const WAIT_TIMED_OUT: u8 = 7;

/// Where the config, vault and state are, after flag > env > config > default.
pub(super) struct Place {
    pub(super) config: Config,
    pub(super) config_path: PathBuf,
    pub(super) vault: Option<PathBuf>,
    pub(super) state_dir: PathBuf,
}

/// The full id for a prefix; an ambiguous one lists the candidates.
pub(super) fn resolve(m: &Machine, prefix: &str) -> Result<String> {
    m.resolve_id(prefix).map_err(|e| {
        let candidates: Vec<String> = m
            .requests()
            .values()
            .filter(|r| r.id.starts_with(prefix))
            .map(|r| {
                format!(
                    "  {}  {}  {}",
                    r.id,
                    r.status.name(),
                    output::shown(&r.sub.summary)
                )
            })
            .collect();
        if candidates.len() > 1 {
            anyhow::anyhow!("{e}:\n{}", candidates.join("\n"))
        } else {
            anyhow::anyhow!("{e}")
        }
    })
}

/// The state: the daemon's checkpoint and the journal's tail after it, or
/// the whole journal, one record at a time.
pub(super) fn replay(p: &Place) -> Result<Machine> {
    Ok(crate::engine::checkpoint::read_state(
        &p.state_dir,
        p.config.clone().into(),
    )?)
}
