//! What every command shares: where the config, vault and state are, the
//! exit codes, and the journal read back. Its own module so the commands
//! and the socket client use it without importing each other.

use std::borrow::Cow;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::output;
use crate::config::Config;
use crate::machine::Machine;
use crate::request::Request;

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

/// The request `id` (a full id the state knows) in full: a settled one's
/// details read from the journal by the offsets its record keeps.
pub(super) fn details<'a>(p: &Place, m: &'a Machine, id: &str) -> Result<Cow<'a, Request>> {
    crate::engine::details::read_request(&p.state_dir, m, id)?
        .with_context(|| format!("no request {id}"))
}

/// Every request whose status is named `status` (all for `None`), in
/// full: the settled ones read back from the journal one by one, by the
/// offsets their records keep (only those of that status).
pub(super) fn all_requests<'a>(
    p: &Place,
    m: &'a Machine,
    status: Option<&str>,
) -> Result<Vec<Cow<'a, Request>>> {
    let wanted = |name: &str| status.is_none_or(|s| s == name);
    let mut out: Vec<Cow<Request>> = m
        .requests()
        .values()
        .filter(|r| wanted(r.status.name()))
        .map(Cow::Borrowed)
        .collect();
    let settled = m
        .settled_index()
        .iter_all()
        .filter(|s| wanted(s.kind.name()));
    let settled: Vec<crate::request::Settled> = settled.collect();
    if settled.is_empty() {
        return Ok(out);
    }
    let path = p.state_dir.join("journal.jsonl");
    let mut reader = crate::journal::Reader::open(&path, crate::journal::chain_for(&path)?)?;
    for s in settled {
        let events = reader.events(s.first, s.last, &s.id())?;
        out.push(Cow::Owned(rebuilt(&s.id(), &events)?));
    }
    Ok(out)
}

fn rebuilt(id: &str, events: &[crate::request::Event]) -> Result<Request> {
    let mut one = std::collections::BTreeMap::new();
    for ev in events {
        crate::request::apply(&mut one, ev)?;
    }
    one.remove(id)
        .with_context(|| format!("request {id} has no `submitted` line"))
}

/// The state: the daemon's checkpoint and the journal's tail after it, or
/// the whole journal, one record at a time.
pub(super) fn replay(p: &Place) -> Result<Machine> {
    Ok(crate::engine::checkpoint::read_state(
        &p.state_dir,
        p.config.clone().into(),
    )?)
}
