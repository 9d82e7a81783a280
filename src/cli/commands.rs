//! What each command does. `main` returns the process exit code and prints
//! an error once.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

use super::client::{build_payload, decide, request, status, wait};
use super::output;
use super::{AuditCmd, Cli, Cmd, ExportFormat, ServiceCmd, service};
use crate::config::{self, Config, parse_duration};
use crate::ipc::Command;
use crate::journal;
use crate::machine::Machine;
use crate::request::Request;

/// Exit codes of DESIGN.md.
pub(super) const ERROR: u8 = 1;
const USAGE: u8 = 2;
pub(super) const WAIT_TIMED_OUT: u8 = 7;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { USAGE } else { 0 });
        }
    };
    init_logging(&cli);
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("hitl: {e:#}");
            ExitCode::from(ERROR)
        }
    }
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("hitl={level}")));
    // Under systemd, stderr is connected to the journal: log there with
    // structured fields instead of text.
    if std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journald) = tracing_journald::layer()
    {
        // Plain field names, so `journalctl --user -u hitl REQUEST=3adb...` works.
        let journald = journald.with_field_prefix(None);
        tracing_subscriber::registry()
            .with(filter)
            .with(journald)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// Where the config, vault and state are, after flag > env > config > default.
pub(super) struct Place {
    pub(super) config: Config,
    pub(super) config_path: PathBuf,
    pub(super) vault: Option<PathBuf>,
    pub(super) state_dir: PathBuf,
}

fn place(cli: &Cli) -> Result<Place> {
    let base = directories::BaseDirs::new();
    let default_config = base
        .as_ref()
        .map(|b| b.config_dir().join("hitl/config.yaml"));
    let config_path = cli
        .config
        .clone()
        .or(default_config)
        .context("no home folder: pass --config")?;
    let is_init = matches!(cli.command, Cmd::Init { .. });
    let config = if config_path.exists() || (cli.config.is_some() && !is_init) {
        match Config::load(&config_path) {
            Ok(c) => c,
            // A broken config must not stop a requester or a decision when
            // the state folder is known without it; the daemon keeps the
            // config it has until a valid one is reloaded.
            Err(e) if cli.state_dir.is_some() && !uses_rules(&cli.command) => {
                eprintln!("hitl: warning: {e}; going on with the built-in defaults");
                Config::builtin()
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        Config::builtin()
    };
    let state_dir = cli
        .state_dir
        .clone()
        .or_else(|| config.state_dir.clone())
        .or_else(|| {
            base.as_ref()
                .and_then(|b| b.state_dir())
                .map(|d| d.join("hitl"))
        })
        .context("no state folder: pass --state-dir")?;
    let vault = cli.vault.clone().or_else(|| config.vault.clone());
    Ok(Place {
        config,
        config_path,
        vault,
        state_dir,
    })
}

/// Commands whose result depends on the config's content.
fn uses_rules(cmd: &Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Run | Cmd::Init { .. } | Cmd::Explain { .. } | Cmd::Service { .. }
    )
}

fn dispatch(cli: Cli) -> Result<u8> {
    let p = place(&cli)?;
    match cli.command {
        Cmd::Init { upgrade } => init(&p, upgrade),
        Cmd::Run => run_daemon(p),
        Cmd::Service {
            what: ServiceCmd::Install,
        } => {
            let vault = p
                .vault
                .as_deref()
                .context("give the vault: hitl service install --vault DIR")?;
            service::install(vault, cli.config.as_deref(), cli.state_dir.as_deref())
        }
        Cmd::Service {
            what: ServiceCmd::Uninstall,
        } => service::uninstall(),
        Cmd::Explain {
            action,
            payload,
            set,
            json,
        } => {
            let payload = build_payload(payload.as_deref(), &set)?;
            let c = &p.config;
            let a = crate::rules::assess(&c.rules, c.default, &c.risk, &action, &payload);
            output::explain(&action, &a, c.handlers.contains_key(&action), json);
            Ok(0)
        }
        cmd @ (Cmd::List { .. } | Cmd::Show { .. } | Cmd::History { .. } | Cmd::Audit { .. }) => {
            read_journal(&p, cmd)
        }
        cmd => to_daemon(&p, cmd),
    }
}

/// Commands the daemon carries out (or queues, when it is down).
fn to_daemon(p: &Place, cmd: Cmd) -> Result<u8> {
    match cmd {
        Cmd::Request(args) => request(p, args),
        Cmd::Approve { code: Some(_), .. } => bail!("approval codes are not supported yet"),
        Cmd::Approve {
            id,
            reason,
            code: None,
        } => decide(
            p,
            Command::Decide {
                id,
                approve: true,
                reason,
            },
        ),
        Cmd::Reject { id, reason } => decide(
            p,
            Command::Decide {
                id,
                approve: false,
                reason,
            },
        ),
        Cmd::Cancel { id } => decide(p, Command::Cancel { id }),
        Cmd::Resolve {
            id,
            executed,
            reason,
            ..
        } => decide(
            p,
            Command::Resolve {
                id,
                executed,
                reason,
            },
        ),
        Cmd::Wait { id, timeout, json } => {
            let timeout = timeout
                .map(|t| parse_duration(&t).map_err(anyhow::Error::msg))
                .transpose()?;
            wait(p, &id, timeout, json)
        }
        Cmd::Status { json } => status(p, json),
        other => unreachable!("dispatched elsewhere: {other:?}"),
    }
}

/// Commands that only read the journal; they work with the daemon down.
fn read_journal(p: &Place, cmd: Cmd) -> Result<u8> {
    let journal_path = p.state_dir.join("journal.jsonl");
    match cmd {
        Cmd::List { status, json } => {
            let m = replay(p)?;
            let wanted = |r: &&Request| status.as_deref().is_none_or(|s| r.status.name() == s);
            let reqs: Vec<&Request> = m.requests().values().filter(wanted).collect();
            output::list(&reqs, json);
        }
        Cmd::Show { id, json } => {
            let m = replay(p)?;
            let id = m.resolve_id(&id).map_err(anyhow::Error::msg)?;
            output::show(&m.requests()[&id], json);
        }
        Cmd::History { id, json } => {
            let records = journal::read(&journal_path)?;
            let id = match id {
                Some(prefix) => Some(replay(p)?.resolve_id(&prefix).map_err(anyhow::Error::msg)?),
                None => None,
            };
            let mine = |r: &&journal::Record| id.as_ref().is_none_or(|i| &r.event.request == i);
            output::history(records.iter().filter(mine), json);
        }
        Cmd::Audit {
            what: AuditCmd::Verify,
        } => return audit_verify(&journal_path),
        Cmd::Audit {
            what: AuditCmd::Export { format },
        } => {
            let records = journal::read(&journal_path)?;
            match format {
                ExportFormat::Jsonl => print!(
                    "{}",
                    std::fs::read_to_string(&journal_path).unwrap_or_default()
                ),
                ExportFormat::Csv => output::csv(&records),
            }
        }
        other => unreachable!("dispatched elsewhere: {other:?}"),
    }
    Ok(0)
}

/// Checks the chain and prints the head, to compare with a copy kept
/// elsewhere. A torn last line is not intact: exit 1.
fn audit_verify(path: &std::path::Path) -> Result<u8> {
    let mut v = journal::verify(path)?;
    if v.torn.is_some() {
        // Perhaps an append in progress: look once more.
        v = journal::verify(path)?;
    }
    let head = match &v.head {
        Some((seq, hash)) => format!("head: seq {seq}, hash {hash}"),
        None => "head: none (the journal is empty)".to_string(),
    };
    match &v.torn {
        None => {
            println!(
                "journal {} is intact: {} events, hash chain verified\n{head}",
                path.display(),
                v.events
            );
            Ok(0)
        }
        Some(t) => {
            println!(
                "journal {} is NOT intact: it ends in a torn line (line {}, {} bytes: an append cut short, e.g. by a power loss). The {} events before it are verified; hitl cuts the torn line off at its next start\n{head}",
                path.display(),
                t.line,
                t.bytes,
                v.events
            );
            Ok(ERROR)
        }
    }
}

pub(super) fn replay(p: &Place) -> Result<Machine> {
    let records = journal::read(&p.state_dir.join("journal.jsonl"))?;
    Ok(Machine::replay(
        p.config.clone().into(),
        records.iter().map(|r| &r.event),
    )?)
}

fn init(p: &Place, upgrade: bool) -> Result<u8> {
    let vault = p
        .vault
        .clone()
        .context("give the vault: hitl init --vault DIR")?;
    let vault = std::path::absolute(&vault)?;
    let v = crate::vault::Vault::new(vault.clone(), p.config.folders.clone());
    v.create_folders()
        .with_context(|| format!("creating folders in {}", vault.display()))?;
    if !p.config_path.exists() {
        if let Some(dir) = p.config_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = config::EXAMPLE.replacen(
            "# vault: ~/Obsidian/MyVault",
            &format!("vault: {}", vault.display()),
            1,
        );
        std::fs::write(&p.config_path, text)
            .with_context(|| format!("writing {}", p.config_path.display()))?;
        println!("wrote {}", p.config_path.display());
    }
    let base = vault.join("Approvals.base");
    if upgrade || !base.exists() {
        std::fs::write(&base, include_str!("../../config/Approvals.base"))?;
        println!("wrote {}", base.display());
    }
    println!(
        "vault ready: {}\nstart the daemon with: hitl run --vault {}",
        vault.display(),
        vault.display()
    );
    Ok(0)
}

fn run_daemon(p: Place) -> Result<u8> {
    let vault = p
        .vault
        .context("no vault: pass --vault DIR, set HITL_VAULT, or set `vault:` in the config")?;
    let settings = crate::daemon::Settings {
        config_path: Some(p.config_path.clone()),
        config: p.config,
        vault,
        state_dir: p.state_dir,
    };
    crate::failpoints::arm_from_env();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        // Installed before anything else, so no signal finds the default action.
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let shutdown = async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!("{name}: stopping; no new work is taken");
        };
        let (reload_tx, reload) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the config");
                if reload_tx.send(()).await.is_err() {
                    return;
                }
            }
        });
        crate::daemon::run(settings, shutdown, reload).await?;
        anyhow::Ok(())
    })?;
    Ok(0)
}
