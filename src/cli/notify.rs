//! `hitl notify test [CHANNEL]`: one test notice through each configured
//! channel (or the named one), sent directly, one attempt each; prints ok or
//! the exact error per channel, exit 1 if any failed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::mpsc;

use super::place::ERROR;
use crate::config::Config;
use crate::notify::Notice;
use crate::notify::delivery::{Message, Transport};

pub fn test(
    config: Option<PathBuf>,
    only: Option<String>,
    wait_action: Option<Duration>,
) -> Result<u8> {
    let config = match config {
        Some(p) if p.exists() => Config::load(&p)?,
        _ => Config::builtin(),
    };
    let channels: Vec<_> = config
        .notify
        .channels
        .iter()
        .filter(|c| only.as_ref().is_none_or(|n| &c.name == n))
        .collect();
    if channels.is_empty() {
        match only {
            Some(n) => bail!("no notify channel named `{n}` in the config"),
            None => bail!("no notify channels in the config"),
        }
    }
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let msg = Message::One(Box::new(Notice::test(jiff::Timestamp::now())));
        let mut failed = false;
        let mut desktop_ok = false;
        for c in channels {
            let t = Transport::new(c, Some(tx.clone()));
            match t.send(&msg, 10).await {
                Ok(()) => {
                    println!("{}: ok", c.name);
                    desktop_ok |= matches!(t, Transport::Desktop(_));
                }
                Err(e) => {
                    println!("{}: error: {}", c.name, e.message);
                    failed = true;
                }
            }
        }
        if let (Some(wait), true) = (wait_action, desktop_ok) {
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(a)) => println!("{}: action {:?} on {}", a.channel, a.decision, a.id),
                _ => println!("no action within {wait:?}"),
            }
        }
        Ok(if failed { ERROR } else { 0 })
    })
}
