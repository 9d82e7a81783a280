//! `hitl` puts a human in the loop before sensitive actions.
//!
//! An agent submits an action (a type and a JSON payload). [`rules`] decide
//! whether it runs at once, needs approval, or is denied. An approval request
//! is a markdown [`note`] in an Obsidian vault; the person decides there (or
//! from the [`cli`]); the daemon runs the approved action through a
//! configured handler ([`executor`]), writes the result into the note, and
//! records every step in the hash-chained [`journal`].
//!
//! # Architecture
//!
//! One actor, the engine ([`daemon`]), owns all request state. Everything
//! else talks to it through channels:
//!
//! - [`watcher`]: notify's raw inotify watcher on the vault folders, bridged
//!   into tokio without blocking notify's thread, with per-path settling and
//!   a full reconcile when events may have been lost.
//! - [`ipc`]: the CLI's Unix socket, and the state folder's inbox for when
//!   the daemon is down.
//! - [`machine`]: the pure transition function `(state, input, now) ->
//!   (events, effects, reply)`, table-tested with no files and no clock,
//!   and checked whole by a model-based property test. Refusals are typed
//!   ([`machine::Refusal`]). Deadlines are an ordered set inside it; the
//!   engine sleeps until the earliest.
//! - [`request`]: requests as a fold over journal events ([`request::apply`]),
//!   used both live and when the journal is replayed at start. The
//!   lifecycle is one table, [`request::next`]; each [`request::Status`]
//!   carries its decision and run record.
//! - [`journal`]: fsynced, hash-chained JSON lines; the source of truth.
//!   The engine journals a batch of events (one fsync) before it carries
//!   out any effect: note writes, handler starts, replies.
//! - [`note`]: rendering and parsing notes; the human's text always survives.
//! - [`vault`]: bounded reads (no symlinks out, size cap, UTF-8, no binary)
//!   and atomic writes.
//! - [`config`]: raw serde structs validated once into a typed [`config::Config`];
//!   [`yaml`] is the safe YAML reader (no aliases, no duplicate keys).
//!
//! - [`notify`]: email, desktop and webhook/ntfy channels, rendered from a
//!   [`notify::Notice`] and sent by their own task (bounded queue, retries,
//!   storm digest); outcomes come back as values for the engine to journal.
//!
//! [`failpoints`] names the engine's crash points; a build with the
//! `failpoints` feature (the tests') can be made to die at each one.
//!
//! [`daemon::run`] takes its shutdown future as an argument, so tests can
//! start the real daemon in-process.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod executor;
pub mod failpoints;
pub mod ipc;
pub mod journal;
pub mod machine;
pub mod note;
pub mod notify;
pub mod payload;
pub mod request;
pub mod rules;
pub mod vault;
pub mod watcher;
pub mod yaml;
