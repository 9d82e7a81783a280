//! Named crash points for the crash-test harness (`tests/it/failpoints/`).
//!
//! Each name marks one step between an input and its effects, as a one-line
//! `fail::fail_point!(NAME)` in the engine. They exist only in a build with
//! the `failpoints` feature (the tests' build); elsewhere the macro compiles
//! to nothing and `FAILPOINTS` is ignored. In such a build, `hitl run` reads
//! `FAILPOINTS=NAME=panic[;NAME=panic...]` (the `fail` crate's syntax), and a
//! failpoint's panic ends the process at once, with no unwinding and no
//! destructor run: a `kill -9` at exactly that step.

/// Every failpoint in the daemon, in the order an input meets them.
pub const ALL: &[&str] = &[
    // engine/inbox.rs: an inbox file read and checked, not yet journaled.
    "inbox-after-read",
    // journal/mod.rs: a batch's events about to be appended (and fsynced).
    "journal-before-append",
    // journal/mod.rs: a batch journaled (fsynced), its effects not yet carried out
    // (its inbox files not yet removed, its notes not written, its
    // handlers not started, its callers not answered).
    "journal-after-append",
    // vault.rs: a note's rewrite written to its temp file and fsynced, the
    // note not yet checked for a change since it was read, not yet renamed
    // over. Its `sleep(ms)` holds the rewrite open for a person's save.
    "note-before-rename",
    // engine/rewrite.rs: a note's new text written in place, not yet moved to
    // the folder its state belongs in.
    "note-between-write-and-move",
    // engine/handlers.rs: a handler's run marker written, its process not
    // yet spawned.
    "handler-before-spawn",
    // engine/handlers.rs: inside a handler's task, its process not yet
    // spawned. Armed in the daemon it is a crash there; armed in-process
    // (`tests/it/shell_faults.rs`) its panic ends only the task, as a bug in
    // the task would, and the engine must journal the request `unknown`.
    "handler-task-panic",
    // executor/mod.rs: a handler's process spawned, its payload not yet
    // written to it, its result not yet journaled.
    "handler-after-spawn",
    // engine/commit.rs: at start, the recovery and the inbox journaled,
    // the vault's notes not yet read.
    "startup-before-reconcile",
    // engine/commit.rs: at start, the vault reconciled, the effects of the
    // recovery and the inbox not yet carried out.
    "startup-after-reconcile",
];

/// Test hooks, not crash points: armed with another action than `panic`
/// (`return`, `sleep(MS)`) to make a situation a test needs.
pub const HOOKS: &[&str] = &[
    // journal/key.rs: a new secret (journal key, codes key, authenticator
    // secret) written and fsynced under its temp name, not yet linked to
    // its own: `panic` is a kill there (tests/it/keys_crash.rs).
    "secret-before-link",
    // watcher.rs: `return` drops every file event, so only a reconcile
    // can notice a change.
    "watcher-drop-events",
    // engine/scan.rs: `sleep(MS)` before each file a reconcile lists, for
    // a start-up reconcile long enough to be interrupted.
    "reconcile-scan-file",
    // engine/writes.rs: `sleep(MS)` before each chunk of owed note
    // rewrites (notes found missing), for a regeneration long enough to
    // make a gesture during it.
    "owed-rewrite-chunk",
    // vault/swap.rs: a note's rewrite checked against the version read,
    // not yet exchanged into place. Its `sleep(ms)` holds the rewrite
    // there, for a save that lands after the check.
    "note-after-check",
    // vault/batch.rs: `return(FILE)` fails every note write (before its
    // temp file is created) while FILE exists: a full disk, freed when
    // the test removes FILE.
    "note-write",
    // engine/reads.rs: `sleep(MS)` before each chunk of a reconcile's reads
    // is decided on, for a reconcile long enough to make a gesture during it.
    "reconcile-decide-chunk",
];

/// Arms the failpoints `FAILPOINTS` names, once per process. Does nothing
/// in a build without the `failpoints` feature.
pub fn arm_from_env() {
    #[cfg(feature = "failpoints")]
    armed::from_env();
}

#[cfg(feature = "failpoints")]
mod armed {
    use std::sync::Once;

    /// What a failpoint's panic says (the `fail` crate's wording).
    const PREFIX: &str = "failpoint ";

    pub(super) fn from_env() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let Ok(spec) = std::env::var("FAILPOINTS") else {
                return;
            };
            crash_on_failpoint_panic();
            for entry in spec.split(';').filter(|e| !e.trim().is_empty()) {
                let Some((name, actions)) = entry.split_once('=') else {
                    eprintln!("FAILPOINTS: {entry:?} is not NAME=ACTIONS; ignored");
                    continue;
                };
                if !super::ALL.contains(&name.trim()) && !super::HOOKS.contains(&name.trim()) {
                    eprintln!("FAILPOINTS: no failpoint is named {name:?}");
                }
                if let Err(e) = fail::cfg(name.trim(), actions.trim()) {
                    eprintln!("FAILPOINTS: {name}: {e}");
                }
            }
        });
    }

    /// A failpoint's panic ends the process at once, as SIGKILL would: a
    /// panic in a tokio task would only end that task, and unwinding would
    /// run destructors a crash never runs.
    fn crash_on_failpoint_panic() {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or_default();
            if msg.starts_with(PREFIX) {
                eprintln!("hitl: crashed at {msg}");
                // SAFETY: _exit ends the process without running anything.
                unsafe { libc::_exit(137) };
            }
            previous(info);
        }));
    }
}
