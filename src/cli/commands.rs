//! What each command does. `main` returns the process exit code and prints
//! an error once.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use super::client::{build_payload, decide, request, status, wait};
use super::place::{ERROR, Place, replay, resolve};
use super::{AuditCmd, Cli, Cmd, ConfigCmd, NotifyCmd, ServiceCmd, TotpCmd, service};
use super::{dash, extra, output, setup, style};
use crate::config::Config;
use crate::ipc::Command;
use crate::request::Request;

/// Exit codes of DESIGN.md.
const USAGE: u8 = 2;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { USAGE } else { 0 });
        }
    };
    if !matches!(cli.command, Cmd::Run) {
        quiet_on_closed_output();
    }
    style::use_utc(cli.utc);
    init_logging(&cli);
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("hitl: {e:#}");
            ExitCode::from(ERROR)
        }
    }
}

/// `hitl list | head`: a closed output ends the command quietly, as it does
/// `ls` or `grep`, instead of a panic on the failed write. Not for the
/// daemon, which must outlive a handler that closes its stdin.
fn quiet_on_closed_output() {
    // SAFETY: setting a signal's disposition to the default, before any
    // thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
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
        .with_ansi(colour_on_stderr())
        .with_target(false)
        .init();
}

/// Log colour: on a terminal only, and never with `NO_COLOR` set (to
/// anything but the empty string), as anstream decides for stdout.
fn colour_on_stderr() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

fn default_config() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.config_dir().join("hitl/config.yaml"))
}

pub(super) fn place(cli: &Cli) -> Result<Place> {
    let base = directories::BaseDirs::new();
    let config_path = cli
        .config
        .clone()
        .or_else(default_config)
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
    // Relative paths are made absolute before they are logged or written
    // into a unit or a config file.
    let vault = vault.map(std::path::absolute).transpose()?;
    let state_dir = std::path::absolute(&state_dir)?;
    let config_path = std::path::absolute(&config_path)?;
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
        Cmd::Run
            | Cmd::Init { .. }
            | Cmd::Explain { .. }
            | Cmd::Service { .. }
            | Cmd::Config { .. }
            | Cmd::Notify { .. }
            | Cmd::Hook(_)
    )
}

fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Cmd::Completions { shell } => return extra::completions(shell),
        Cmd::Man => return extra::man(),
        Cmd::Config {
            what: ConfigCmd::Check { file, json },
        } => return extra::config_check(file.or(cli.config).or_else(default_config), json),
        Cmd::Notify {
            what:
                NotifyCmd::Test {
                    ref channel,
                    wait_action,
                },
        } => {
            let state = place(&cli).ok().map(|p| p.state_dir);
            let config = cli.config.clone().or_else(default_config);
            return super::notify::test(config, state, channel.clone(), wait_action);
        }
        Cmd::Hook(ref args) => return Ok(super::hook::hook(&cli, args)),
        _ => {}
    }
    let p = place(&cli)?;
    match cli.command {
        Cmd::Init {
            upgrade,
            force,
            json,
        } => setup::init(&p, upgrade, force, json),
        Cmd::Run => run_daemon(p),
        Cmd::Totp {
            what: TotpCmd::Enroll { force },
        } => super::totp::enroll(&p.state_dir, force),
        Cmd::Log { id, follow } => extra::log(&p, &id, follow),
        Cmd::Mcp { wait_bound } => super::mcp::serve(&p, wait_bound),
        Cmd::Service {
            what: ServiceCmd::Install { force, json },
        } => {
            let vault = p
                .vault
                .as_deref()
                .context("give the vault: hitl service install --vault DIR")?;
            // A unit on a missing vault would only fail at every start.
            setup::check_vault(vault)?;
            let config = cli.config.as_deref().map(std::path::absolute).transpose()?;
            let state = cli
                .state_dir
                .as_deref()
                .map(std::path::absolute)
                .transpose()?;
            let man = service::man_path()?;
            let unit = service::Unit {
                man: &man,
                vault,
                config: config.as_deref(),
                state: state.as_deref(),
            };
            service::install(&unit, force, json)
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
            let hook_allow = crate::hooks::auto_allows(c, &action, &payload).is_some();
            let facts = output::Explained {
                has_handler: c.handlers.contains_key(&action),
                hook_allow,
            };
            output::explain(&action, &a, facts, json);
            Ok(0)
        }
        cmd @ (Cmd::List { .. }
        | Cmd::Show { .. }
        | Cmd::History(_)
        | Cmd::Audit { .. }
        | Cmd::Dashboard { .. }) => read_journal(&p, cmd),
        cmd => to_daemon(&p, cmd),
    }
}

/// Commands the daemon carries out (or queues, when it is down).
fn to_daemon(p: &Place, cmd: Cmd) -> Result<u8> {
    match cmd {
        Cmd::Request(args) => request(p, args),
        Cmd::Approve {
            id,
            reason,
            code,
            json,
        } => decide(
            p,
            Command::Decide {
                id,
                approve: true,
                reason,
                code,
            },
            json,
        ),
        Cmd::Reject { id, reason, json } => decide(
            p,
            Command::Decide {
                id,
                approve: false,
                reason,
                code: None,
            },
            json,
        ),
        Cmd::Cancel { id, reason, json } => decide(p, Command::Cancel { id, reason }, json),
        Cmd::Resolve {
            id,
            executed,
            reason,
            json,
            ..
        } => decide(
            p,
            Command::Resolve {
                id,
                executed,
                reason,
            },
            json,
        ),
        Cmd::Wait { id, timeout, json } => wait(p, &id, timeout, json),
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
            let status = status.map(|s| s.name());
            let reqs = super::place::all_requests(p, &m, status.as_deref())?;
            let reqs: Vec<&Request> = reqs.iter().map(|r| &**r).collect();
            output::list(&reqs, json);
        }
        Cmd::Show { id, json } => {
            let m = replay(p)?;
            let id = resolve(&m, &id)?;
            output::show(&*super::place::details(p, &m, &id)?, json, &p.state_dir);
        }
        Cmd::History(args) => dash::history(p, args)?,
        Cmd::Audit {
            what: AuditCmd::Verify { json, anchor },
        } => {
            let code = setup::audit_verify(&journal_path, json)?;
            return match anchor {
                Some(a) if code == 0 => super::anchor::check(&journal_path, &a),
                _ => Ok(code),
            };
        }
        Cmd::Audit {
            what: AuditCmd::Export { format },
        } => dash::export(&journal_path, format)?,
        Cmd::Dashboard { stdout } => dash::dashboard(p, stdout)?,
        other => unreachable!("dispatched elsewhere: {other:?}"),
    }
    Ok(0)
}

fn run_daemon(p: Place) -> Result<u8> {
    let vault = p
        .vault
        .context("no vault: pass --vault DIR, set HITL_VAULT, or set `vault:` in the config")?;
    setup::check_vault(&vault)?;
    let settings = crate::engine::Settings {
        config_path: Some(p.config_path.clone()),
        config: p.config,
        vault,
        state_dir: p.state_dir,
        clock: crate::engine::Clock::system(),
    };
    crate::failpoints::arm_from_env();
    // The process adopts its handlers' orphans; the engine alone doesn't
    // (run in a test process, it must not adopt the test's).
    crate::executor::become_subreaper();
    // Before the runtime's threads exist (docs/perf-memory.md).
    crate::memory::tune();
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
        crate::engine::run(settings, shutdown, reload).await?;
        anyhow::Ok(())
    })?;
    Ok(0)
}
