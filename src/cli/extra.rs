//! Commands beside the request flow: `log`, `config check`, `completions`,
//! `man`.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use super::Cli;
use super::place::{ERROR, Place, replay, resolve};
use super::style;
use crate::config::Config;

/// `hitl log ID [--follow]`: the full handler output. With `--follow`,
/// the output so far and then what comes, until the request settles (the
/// handler's stdout is written as it comes; stderr when it ends).
pub(super) fn log(p: &Place, prefix: &str, follow: bool) -> Result<u8> {
    let mut m = replay(p)?;
    let id = resolve(&m, prefix)?;
    let path = p.state_dir.join("output").join(format!("{id}.log"));
    let mut offset = 0;
    if follow {
        let mut told = false;
        while m.get(&id).is_some_and(|r| open(&r.status)) {
            offset += print_from(&path, offset)?;
            if !told {
                let status = m.status_name(&id).unwrap_or("unknown");
                eprintln!("hitl: {id} is {status}; following its output until it settles");
                told = true;
            }
            std::thread::sleep(Duration::from_millis(300));
            m = replay(p)?;
        }
    }
    if path.exists() {
        print_from(&path, offset)?;
        return Ok(0);
    }
    let status = m.status_name(&id).unwrap_or("unknown");
    bail!(
        "request {id} has no output ({status}; output is kept for every handler run, in {})",
        path.display()
    )
}

/// Prints the file's bytes past `offset`; returns how many.
fn print_from(path: &Path, offset: u64) -> Result<u64> {
    use std::io::{Read, Seek};
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    f.seek(std::io::SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)?;
    out.flush()?;
    Ok(bytes.len() as u64)
}

/// Not settled yet, and its handler may still run: worth following.
fn open(s: &crate::request::Status) -> bool {
    use crate::request::Status;
    matches!(
        s,
        Status::Pending | Status::Executing { .. } | Status::ApprovedToRun { .. }
    )
}

/// `hitl config check [FILE]`: validates, lists the rules in order and
/// checks each handler's program. The error, if any, is printed once by
/// `main` with its file, line and column.
pub(super) fn config_check(file: Option<PathBuf>, json: bool) -> Result<u8> {
    let path = file.context("no home folder: give the file")?;
    if !path.exists() {
        bail!(
            "{} does not exist (hitl uses the built-in defaults without it; `hitl init` writes one)",
            path.display()
        );
    }
    let c = match Config::load(&path) {
        Ok(c) => c,
        Err(e) if json => {
            println!(
                "{}",
                json!({ "file": path.display().to_string(), "ok": false, "error": e.to_string() })
            );
            return Ok(ERROR);
        }
        Err(e) => return Err(e.into()),
    };
    let handlers: Vec<(String, String, Result<PathBuf, String>)> = c
        .handlers
        .iter()
        .map(|(action, h)| {
            (
                action.clone(),
                h.command[0].clone(),
                executable(&h.command[0]),
            )
        })
        .collect();
    let bad = handlers.iter().filter(|h| h.2.is_err()).count();
    if json {
        print_check_json(&path, &c, &handlers);
    } else {
        print_check(&path, &c, &handlers);
    }
    if bad > 0 {
        if !json {
            eprintln!(
                "hitl: {}: {} cannot run",
                path.display(),
                style::count(bad, "handler")
            );
        }
        return Ok(ERROR);
    }
    if !json {
        println!("{}: ok", path.display());
    }
    Ok(0)
}

fn lower(v: impl std::fmt::Debug) -> String {
    format!("{v:?}").to_lowercase()
}

type Checked = (String, String, Result<PathBuf, String>);

fn print_check(path: &Path, c: &Config, handlers: &[Checked]) {
    println!("{}: the syntax is ok", path.display());
    println!(
        "{} (first match wins):",
        style::count(c.rules.len(), "rule")
    );
    for (i, r) in c.rules.iter().enumerate() {
        let timeout = r
            .timeout
            .map(|t| format!(", timeout {}", style::span(t.as_secs() as i64)))
            .unwrap_or_default();
        println!("  {}. {} -> {}{timeout}", i + 1, r.name, lower(r.decision));
    }
    println!("  otherwise -> {}", lower(c.default));
    println!("{}", style::count(c.risk.len(), "risk signal"));
    println!("{}:", style::count(handlers.len(), "handler"));
    for (action, program, found) in handlers {
        match found {
            Ok(found) => println!("  {action}: {} (ok)", found.display()),
            Err(why) => println!("  {action}: {program}: {why}"),
        }
    }
}

fn print_check_json(path: &Path, c: &Config, handlers: &[Checked]) {
    let rules: Vec<Value> = c
        .rules
        .iter()
        .map(|r| json!({ "name": r.name, "decision": lower(r.decision), "timeout_s": r.timeout.map(|t| t.as_secs()) }))
        .collect();
    let handlers: Vec<Value> = handlers
        .iter()
        .map(|(action, program, found)| {
            json!({ "action": action, "program": program, "ok": found.is_ok(), "problem": found.as_ref().err() })
        })
        .collect();
    let ok = handlers.iter().all(|h| h["ok"] == true);
    println!(
        "{}",
        json!({ "file": path.display().to_string(), "ok": ok, "rules": rules, "default": lower(c.default), "risk_signals": c.risk.len(), "handlers": handlers })
    );
}

/// Where `program` is, if it exists and may be executed (searched in
/// `PATH` when it has no slash, as the executor does).
fn executable(program: &str) -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![PathBuf::from(program)]
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .collect()
    };
    for c in &candidates {
        if let Ok(meta) = std::fs::metadata(c) {
            if !meta.is_file() {
                return Err("not a file".into());
            }
            if meta.permissions().mode() & 0o111 == 0 {
                return Err("not executable (chmod +x)".into());
            }
            return Ok(c.clone());
        }
    }
    Err(if program.contains('/') {
        "does not exist".into()
    } else {
        "not found in PATH".into()
    })
}

pub(super) fn completions(shell: clap_complete::Shell) -> Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "hitl", &mut std::io::stdout());
    Ok(0)
}

pub(super) fn man() -> Result<u8> {
    std::io::stdout().write_all(&man_page()?)?;
    Ok(0)
}

/// The manual: hitl(1), then a section per subcommand.
pub(super) fn man_page() -> Result<Vec<u8>> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name: &'static str = format!("hitl-{}", sub.get_name()).leak();
        let sub = sub.clone().name(name);
        clap_mangen::Man::new(sub).render(&mut out)?;
    }
    Ok(out)
}
