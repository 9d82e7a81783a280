//! The command line: argument definitions and where things live.

mod client;
mod commands;
mod output;
mod service;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use commands::main;

#[derive(Debug, Parser)]
#[command(
    name = "hitl",
    version,
    about = "A human in the loop before sensitive actions"
)]
pub struct Cli {
    /// Config file [default: ~/.config/hitl/config.yaml, else built-in defaults]
    #[arg(long, global = true, env = "HITL_CONFIG")]
    pub config: Option<PathBuf>,
    /// The Obsidian vault
    #[arg(long, global = true, env = "HITL_VAULT")]
    pub vault: Option<PathBuf>,
    /// Journal, lock, socket and handler output [default: ~/.local/state/hitl]
    #[arg(long, global = true, env = "HITL_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// More log output (-v: debug, -vv: trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log output
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create the vault folders, the config file and Approvals.base
    Init {
        /// Rewrite Approvals.base even if it exists
        #[arg(long)]
        upgrade: bool,
    },
    /// Run the daemon in the foreground
    Run,
    /// Submit an action for approval
    Request(RequestArgs),
    /// List requests
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one request
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending request
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        code: Option<String>,
    },
    /// Reject a pending request
    Reject {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Withdraw a pending request
    Cancel { id: String },
    /// Settle a request whose outcome is unknown
    Resolve {
        id: String,
        #[arg(long, conflicts_with = "failed", required_unless_present = "failed")]
        executed: bool,
        #[arg(long)]
        failed: bool,
        #[arg(long)]
        reason: String,
    },
    /// Wait until a request is settled; the exit code tells how
    Wait {
        id: String,
        /// Give up after this long (exit 7)
        #[arg(long)]
        timeout: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The journal's events, for one request or all
    History {
        id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Which rule decides an action and which risk signals fire; submits nothing
    Explain {
        action: String,
        #[arg(long)]
        payload: Option<String>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Check or export the journal
    Audit {
        #[command(subcommand)]
        what: AuditCmd,
    },
    /// Is the daemon up, and how many requests are open
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The systemd user unit
    Service {
        #[command(subcommand)]
        what: ServiceCmd,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// Write ~/.config/systemd/user/hitl.service for this binary and vault
    Install,
    /// Remove the unit file
    Uninstall,
}

#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    pub action: String,
    /// The payload: JSON, @FILE, or - for stdin
    #[arg(long)]
    pub payload: Option<String>,
    /// A payload field (dotted keys nest); the value is JSON if it parses, else text
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[arg(long)]
    pub summary: Option<String>,
    /// Why the action is needed, shown in the note
    #[arg(long)]
    pub reason: Option<String>,
    /// How long the request may wait for a decision (e.g. 30m, 2h)
    #[arg(long)]
    pub timeout: Option<String>,
    #[arg(long)]
    pub requested_by: Option<String>,
    /// Block until the request is settled; the exit code tells how
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the journal's hash chain
    Verify,
    /// Print the journal
    Export {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}
