//! `hitl hook HARNESS` and `hitl hook install HARNESS`. The hook never
//! returns an error the usual way: whatever fails is a deny in the
//! harness's own format, so the call it gates does not run.

use std::io::Read;
use std::sync::Arc;

use super::commands::place;
use super::{Cli, HookArgs, HookCmd, HookWait};
use crate::hooks::{self, HARNESSES, Harness, Settings, Setup, install};

pub(super) fn hook(cli: &Cli, args: &HookArgs) -> u8 {
    match &args.install {
        Some(HookCmd::Install {
            harness,
            project,
            dry_run,
            wait,
        }) => match known(harness) {
            Some(h) => install_hook(h, project.as_deref(), wait, *dry_run),
            None => 1,
        },
        None => {
            let name = args.harness.as_deref().unwrap_or_default();
            match known(name) {
                Some(h) => answer(cli, h, &args.wait),
                // No format to answer in: exit 2 blocks in the harnesses
                // that read exit codes.
                None => 2,
            }
        }
    }
}

fn known(name: &str) -> Option<&'static Harness> {
    let h = hooks::harness(name);
    if h.is_none() {
        let names: Vec<&str> = HARNESSES.iter().map(|h| h.name).collect();
        eprintln!(
            "hitl: no harness `{name}` (known: {}); the call is denied",
            names.join(", ")
        );
    }
    h
}

fn answer(cli: &Cli, h: &Harness, w: &HookWait) -> u8 {
    let mut input = Vec::new();
    let limit = hooks::parse::MAX_INPUT as u64 + 1;
    let read = std::io::stdin().take(limit).read_to_end(&mut input);
    let setup = match read {
        Err(e) => Err(format!("reading the hook input: {e}")),
        Ok(_) => place(cli)
            .map(|p| Setup {
                state_dir: p.state_dir,
                config: Arc::new(p.config),
            })
            .map_err(|e| format!("{e:#}")),
    };
    let settings = Settings {
        wait: w.wait,
        on_timeout: w.on_timeout,
    };
    let out = hooks::run(h, &input, &settings, setup);
    if !out.stdout.is_empty() {
        println!("{}", out.stdout);
    }
    if !out.stderr.is_empty() {
        eprintln!("{}", out.stderr);
    }
    out.exit_code
}

fn install_hook(h: &Harness, project: Option<&std::path::Path>, w: &HookWait, dry_run: bool) -> u8 {
    let base = match project {
        Some(p) => p.to_path_buf(),
        None => match directories::BaseDirs::new() {
            Some(b) => b.home_dir().to_path_buf(),
            None => {
                eprintln!("hitl: no home folder; give --project DIR");
                return 1;
            }
        },
    };
    let entry = install::Entry::new(h, w.wait, w.on_timeout);
    match install::install(h, &base, &entry, dry_run) {
        Err(e) => {
            eprintln!("hitl: {e}");
            1
        }
        Ok((path, _, false)) => {
            println!(
                "{} already has the hitl hook; nothing to change",
                path.display()
            );
            0
        }
        Ok((path, text, true)) if dry_run => {
            println!("would write {}:\n{text}", path.display());
            0
        }
        Ok((path, _, true)) => {
            let events: Vec<&str> = h.settings.entries.iter().map(|(e, _)| *e).collect();
            println!(
                "wrote {}: {} runs `{}`",
                path.display(),
                events.join(" and "),
                entry.command
            );
            0
        }
    }
}
