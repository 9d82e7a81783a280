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
//! One actor, the engine ([`engine`]), owns all request state. Everything
//! else talks to it through channels. Where to look first:
//!
//! - **The transition table**: [`request::next`], one arm per legal edge of
//!   a request's lifecycle; [`request::apply`] folds journal events with it,
//!   live and when the journal is replayed at start. Each
//!   [`request::Status`] carries its decision and run record.
//! - **The decisions**: [`machine`], the pure function `(state, input, now)
//!   -> (events, effects, reply)`, with no files and no clock, table-tested
//!   and checked whole by a model-based property test. Refusals are typed
//!   ([`machine::Refusal`]); effects carry what they need
//!   ([`machine::Effect::StartHandler`] holds the exact
//!   [`machine::HandlerJob`] that runs).
//! - **The loop**: [`engine::run`] (`engine/mod.rs`) waits on file events,
//!   socket commands, handler results, deadlines and signals, feeds them to
//!   the machine, journals each batch with one fsync (`engine/commit.rs`),
//!   and only then carries out its effects (`Engine::carry_out`): note
//!   writes (`engine/files.rs`), handler starts (`engine/handlers.rs`),
//!   replies (`engine/commands.rs`). The vault's bookkeeping is one
//!   `NoteIndex` (`engine/note_index.rs`); the full reconcile and "is this
//!   note missing" are in `engine/reconcile.rs`; the inbox in
//!   `engine/inbox.rs`; a journal that can't be written in
//!   `engine/outage.rs`.
//! - **Time**: the engine reads it from an injected [`engine::Clock`]
//!   (the system's, or a manual one in tests); [`engine::run`] takes its
//!   shutdown future as an argument, so tests run the real engine
//!   in-process on a clock they move (`tests/it/shell.rs`).
//!
//! Around it:
//!
//! - [`watcher`]: raw inotify on the vault folders with its own event mask
//!   (no open/access events), read by a tokio task, with per-path settling,
//!   coalescing, and a full reconcile when events may have been lost. A
//!   reconcile reads only notes whose stamp changed (`vault/stamp.rs`),
//!   off the engine thread (`engine/scan.rs`); the stamps are kept across
//!   restarts (`engine/stamp_file.rs`, `engine/start_stamps.rs`); a batch's
//!   note writes go out with one flush (`engine/writes.rs`).
//! - [`ipc`]: the CLI's Unix socket, and the state folder's inbox for when
//!   the daemon is down.
//! - [`journal`]: fsynced, hash-chained JSON lines; the source of truth.
//! - [`memory`]: the daemon's malloc settings (two arenas, large buffers
//!   unmapped when freed) and its trim after start-up and bulk work.
//! - [`executor`]: a handler's process, its group, its timeout and output.
//! - [`note`]: rendering and parsing notes; the human's text always survives.
//! - [`vault`]: the vault's folders ([`vault::Folder`]), bounded reads (no
//!   symlinks out, size cap, UTF-8, no binary) and atomic writes.
//! - [`config`]: raw serde structs validated once into a typed [`config::Config`];
//!   [`yaml`] is the safe YAML reader (no aliases, no duplicate keys).
//! - [`notify`]: email, desktop and webhook/ntfy channels, rendered from a
//!   [`notify::Notice`] and sent by their own task (bounded queue, retries,
//!   storm digest); outcomes come back as values for the engine to journal.
//! - [`trust`]: approval codes (derived under a key in the state folder,
//!   sent only to the named channels), authenticator codes, and who may
//!   submit or approve by uid; the machine's gate for codes, quorums and
//!   undo windows is `machine/trust.rs`.
//!
//! [`dashboard`] renders `Approvals.md`, the person's overview page (pure),
//! and keeps it up to date from a thread of its own that the engine tells
//! about each journaled change (coalesced, written only when it changed);
//! `hitl dashboard` writes it from the journal with the daemon down.
//! [`outcome`] is what a requester learns of its request (status, who
//! decided and why, the handler's exit code and output head), the one
//! shape `hitl wait`, the socket's replies and the [`mcp`] server return.
//!
//! [`mcp`] is `hitl mcp`, the MCP server on stdio for agents: a client of
//! the daemon's socket like the CLI, answering with the outcome.
//!
//! [`dashboard`] renders `Approvals.md`, the person's overview page, from
//! the requests (pure; `hitl dashboard` writes it from the journal).
//!
//! [`hooks`] answers coding agents' tool-call hooks (Claude Code, Codex,
//! Gemini CLI, Cursor): one table-driven adapter per harness, asking the
//! daemon over the socket like the CLI, denying on every error.
//!
//! [`failpoints`] names the engine's crash points; a build with the
//! `failpoints` feature (the tests') can be made to die at each one.

pub mod cli;
pub mod config;
pub mod dashboard;
pub mod engine;
pub mod executor;
pub mod failpoints;
pub mod hooks;
pub mod ipc;
pub mod journal;
pub mod machine;
pub mod mcp;
pub mod memory;
pub mod note;
pub mod notify;
pub mod outcome;
pub mod payload;
pub mod request;
pub mod rules;
pub mod trust;
pub mod vault;
pub mod watcher;
pub mod yaml;
