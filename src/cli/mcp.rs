//! `hitl mcp`: runs the MCP server ([`crate::mcp`]) on stdio until the
//! client hangs up. Logs go to stderr; stdout is the protocol's.

use std::time::Duration;

use anyhow::Result;

use super::place::Place;

pub(super) fn serve(p: &Place, wait_bound: Option<Duration>) -> Result<u8> {
    let bound = wait_bound.unwrap_or(p.config.mcp_wait_bound);
    tracing::debug!(state_dir = %p.state_dir.display(), wait_bound_s = bound.as_secs(), "mcp: serving on stdio");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(crate::mcp::serve(&p.state_dir, bound))?;
    Ok(0)
}
