//! `hitl notify test [CHANNEL]`: one test notice through each configured
//! channel (or the named one), one attempt each, by the running daemon with
//! its config when it is up, else directly with the config file; prints ok
//! or the exact error per channel, exit 1 if any failed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::mpsc;

use super::place::ERROR;
use crate::config::Config;
use crate::ipc::{self, Command, Reply};
use crate::notify::Notice;
use crate::notify::delivery::{Message, Transport};

pub fn test(
    config: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    only: Option<String>,
    wait_action: Option<Duration>,
) -> Result<u8> {
    if let Some(state) = state_dir {
        let cmd = Command::NotifyTest {
            channel: only.clone(),
        };
        match ipc::call(&state, &cmd, Some(Duration::from_secs(300))) {
            Ok(reply) => return Ok(print_daemons(reply)),
            Err(e) if ipc::is_down(&e) => {}
            Err(e) => return Err(e).context("talking to the daemon"),
        }
    }
    direct(config, only, wait_action)
}

/// Prints what the daemon sent, channel by channel; the exit code.
fn print_daemons(reply: Reply) -> u8 {
    let results = match reply {
        Reply::Status(info) => info["notify_test"].as_array().cloned().unwrap_or_default(),
        other => {
            let why = other.refusal().unwrap_or_else(|| "no answer".into());
            eprintln!("hitl: {why}");
            return ERROR;
        }
    };
    let mut failed = false;
    for r in results {
        let name = r["channel"].as_str().unwrap_or("?");
        match r["error"].as_str() {
            None => println!("{name}: ok (sent by the daemon)"),
            Some(e) => {
                println!("{name}: error: {e}");
                failed = true;
            }
        }
    }
    if failed { ERROR } else { 0 }
}

/// Sends with the config file, the daemon being down.
fn direct(
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
