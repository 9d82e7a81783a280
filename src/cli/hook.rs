//! `hitl hook HARNESS` and `hitl hook install HARNESS`. The hook never
//! returns an error the usual way: whatever fails is a deny in the
//! harness's own format, so the call it gates does not run.

use std::io::{Read, Write};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::commands::place;
use super::{Cli, HookArgs, HookCmd, HookWait};
use crate::hooks::{self, Answer, HARNESSES, Harness, Rendered, Settings, Setup, install};

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

fn answer(cli: &Cli, h: &'static Harness, w: &HookWait) -> u8 {
    // A hook killed by SIGPIPE has no exit code: a harness takes that as a
    // non-blocking error and runs the call. A failed write exits 2 instead.
    // SAFETY: setting a signal's disposition, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let guard = Guard::start(h, w.wait + hooks::GUARD_MARGIN);
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
    guard.heard(&input);
    // A bug must not fail open either: a panic (exit 101) is a
    // "non-blocking error" to the harnesses, which then run the call.
    let out =
        std::panic::catch_unwind(AssertUnwindSafe(|| hooks::run(h, &input, &settings, setup)))
            .unwrap_or_else(|_| guard.deny("hitl hook failed unexpectedly (a bug)"));
    guard.answer(&out)
}

/// Makes sure the hook answers, and denies, before the harness's own hook
/// timeout: a harness takes a hook that timed out (or crashed) as a
/// non-blocking error and runs the call. Whatever hangs (stdin never
/// closed, a daemon stopped with SIGSTOP or a socket backlog filled by the
/// agent), the guard prints a deny at the deadline and ends the process.
struct Guard {
    h: &'static Harness,
    /// The harness's event, once the input names it.
    event: Arc<Mutex<Option<String>>>,
    answered: Arc<AtomicBool>,
}

impl Guard {
    fn start(h: &'static Harness, after: Duration) -> Guard {
        let g = Guard {
            h,
            event: Arc::default(),
            answered: Arc::default(),
        };
        let (event, answered) = (g.event.clone(), g.answered.clone());
        std::thread::spawn(move || {
            std::thread::sleep(after);
            if answered.swap(true, Ordering::SeqCst) {
                return;
            }
            let event = event.lock().map(|e| e.clone()).unwrap_or(None);
            let why = format!(
                "hitl did not answer within {}s; the call is denied",
                after.as_secs()
            );
            tracing::warn!(harness = h.name, "hook denies: its own deadline passed");
            let out = (h.render)(event.as_deref(), &Answer::Deny(why));
            std::process::exit(emit(&out).into());
        });
        g
    }

    /// Notes the event the input names, for a deny the guard may print.
    fn heard(&self, input: &[u8]) {
        let event = hooks::parse::read(input)
            .ok()
            .and_then(|v| (self.h.parse)(&v).ok())
            .map(|c| c.event);
        if let Ok(mut e) = self.event.lock() {
            *e = event;
        }
    }

    fn deny(&self, why: &str) -> Rendered {
        let event = self.event.lock().map(|e| e.clone()).unwrap_or(None);
        (self.h.render)(
            event.as_deref(),
            &Answer::Deny(format!("{why}; the call is denied")),
        )
    }

    /// Prints the answer, unless the guard is printing its deny.
    fn answer(&self, out: &Rendered) -> u8 {
        if self.answered.swap(true, Ordering::SeqCst) {
            // The guard's deny is on its way; it ends the process.
            loop {
                std::thread::park();
            }
        }
        emit(out)
    }
}

/// Writes the answer; if stdout can't take it (closed, a broken pipe),
/// exit 2, which blocks the call in the harnesses that read exit codes.
fn emit(out: &Rendered) -> u8 {
    if !out.stderr.is_empty() {
        let _ = writeln!(std::io::stderr(), "{}", out.stderr);
    }
    if out.stdout.is_empty() {
        return out.exit_code;
    }
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{}", out.stdout).and_then(|()| stdout.flush()) {
        Ok(()) => out.exit_code,
        Err(_) => 2,
    }
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
