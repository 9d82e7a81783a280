//! The command line: argument definitions and where things live.

mod client;
mod commands;
mod dash;
mod extra;
mod hook;
mod mcp;
mod notify;
mod obsidian;
mod output;
mod place;
mod service;
mod setup;
mod style;
mod totp;
mod waiting;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use commands::main;

const GLOBAL: &str = "Global options";
const ID_HELP: &str = "The request id; any unique prefix works (e.g. 3adb)";

#[derive(Debug, Parser)]
#[command(
    name = "hitl",
    version,
    about = "A human in the loop before sensitive actions",
    after_help = "Start with `hitl init --vault DIR`, then `hitl run`. `hitl man` prints the manual."
)]
pub struct Cli {
    /// Config file [default: ~/.config/hitl/config.yaml, else built-in defaults]
    #[arg(long, global = true, env = "HITL_CONFIG", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// The Obsidian vault (a folder; `hitl init` creates one)
    #[arg(long, global = true, env = "HITL_VAULT", help_heading = GLOBAL)]
    pub vault: Option<PathBuf>,
    /// Journal, lock, socket and handler output [default: ~/.local/state/hitl]
    #[arg(long, global = true, env = "HITL_STATE_DIR", help_heading = GLOBAL)]
    pub state_dir: Option<PathBuf>,
    /// Show times in UTC instead of local time (--json is always UTC)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub utc: bool,
    /// More log output (-v: debug, -vv: trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Less log output
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create the vault folders, the config file and Approvals.base
    Init {
        /// Refresh hitl's own files (Approvals.base); the vault's other files are not touched
        #[arg(long)]
        upgrade: bool,
        /// Rewrite the config file (with this vault) even if it exists
        #[arg(long)]
        force: bool,
        /// Print what was done as JSON
        #[arg(long)]
        json: bool,
    },
    /// Run the daemon in the foreground (the vault must exist: see `hitl init`)
    Run,
    /// Submit an action for approval
    Request(RequestArgs),
    /// List requests: open ones by deadline, then the rest newest first
    List {
        /// Only requests with this status
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
        /// Print JSON (times in RFC 3339 UTC)
        #[arg(long)]
        json: bool,
    },
    /// Show one request, with the head of its handler output
    Show {
        #[arg(help = ID_HELP)]
        id: String,
        /// Print JSON (times in RFC 3339 UTC)
        #[arg(long)]
        json: bool,
    },
    /// Print a request's full handler output (output/<id>.log)
    Log {
        #[arg(help = ID_HELP)]
        id: String,
        /// Keep printing as the handler writes, until the request settles
        #[arg(long, short)]
        follow: bool,
    },
    /// Approve a pending request
    Approve {
        #[arg(help = ID_HELP)]
        id: String,
        /// Why, kept in the journal and the note
        #[arg(long)]
        reason: Option<String>,
        /// The approval code, for a rule with `approval: code` (sent to you,
        /// or from your authenticator app)
        #[arg(long)]
        code: Option<String>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Reject a pending request
    Reject {
        #[arg(help = ID_HELP)]
        id: String,
        /// Why, kept in the journal and the note
        #[arg(long)]
        reason: Option<String>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a pending request
    Cancel {
        #[arg(help = ID_HELP)]
        id: String,
        /// Why, kept in the journal and the note
        #[arg(long)]
        reason: Option<String>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Settle a request whose outcome is unknown: give --executed or --failed
    #[command(group(clap::ArgGroup::new("outcome").required(true).args(["executed", "failed"])))]
    Resolve {
        #[arg(help = ID_HELP)]
        id: String,
        /// The action did take effect
        #[arg(long)]
        executed: bool,
        /// The action did not take effect
        #[arg(long)]
        failed: bool,
        /// How you know, kept in the journal
        #[arg(long)]
        reason: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Wait until a request is settled; the exit code tells how
    Wait {
        #[arg(help = ID_HELP)]
        id: String,
        /// Give up after this long (exit 7), e.g. 90s, 10m, 1h30m, "2 days"
        #[arg(long, value_parser = duration_arg)]
        timeout: Option<std::time::Duration>,
        /// Print the outcome as JSON
        #[arg(long)]
        json: bool,
    },
    /// The journal's events, for one request or all, filtered
    History(HistoryArgs),
    /// Write Approvals.md, the overview page, into the vault from the journal
    Dashboard {
        /// Print the page instead of writing it
        #[arg(long)]
        stdout: bool,
    },
    /// Which rule decides an action and which risk signals fire; submits nothing
    Explain {
        /// The action type, e.g. payment
        action: String,
        /// The payload: JSON, @FILE, or - for stdin
        #[arg(long)]
        payload: Option<String>,
        /// A payload field (dotted keys nest); the value is JSON if it parses, else text
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Print JSON
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
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// The systemd user unit
    Service {
        #[command(subcommand)]
        what: ServiceCmd,
    },
    /// Check the config file
    Config {
        #[command(subcommand)]
        what: ConfigCmd,
    },
    /// Print a shell completion script (see the README for where it goes)
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `hitl man | man -l -`
    Man,
    /// An MCP server on stdio, for agents (a client of the running daemon)
    Mcp {
        /// How long one tool call waits for a decision [default: the config's mcp.wait_bound, else 50s]
        #[arg(long, value_parser = duration_arg)]
        wait_bound: Option<std::time::Duration>,
    },
    /// Notifications: `hitl notify test [CHANNEL]`
    Notify {
        #[command(subcommand)]
        what: NotifyCmd,
    },
    /// Authenticator app codes: `hitl totp enroll`
    Totp {
        #[command(subcommand)]
        what: TotpCmd,
    },
    /// A coding agent's tool-call hook (JSON on stdin) answered from hitl;
    /// `hitl hook install HARNESS` sets it up (docs/agents.md)
    Hook(HookArgs),
}

#[derive(Debug, Subcommand)]
pub enum TotpCmd {
    /// Make the authenticator secret (0600 in the state folder) and print
    /// its otpauth:// URI and QR code to scan
    Enroll {
        /// Make a new secret even if one exists (old codes stop working)
        #[arg(long)]
        force: bool,
    },
}

/// `hitl hook HARNESS` or `hitl hook install HARNESS`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct HookArgs {
    #[command(subcommand)]
    pub install: Option<HookCmd>,
    /// The harness: claude-code, codex, gemini or cursor
    #[arg(required = true)]
    pub harness: Option<String>,
    #[command(flatten)]
    pub wait: HookWait,
}

#[derive(Debug, Subcommand)]
pub enum HookCmd {
    /// Write the hook into the harness's settings file (other settings kept)
    Install {
        /// The harness: claude-code, codex, gemini or cursor
        harness: String,
        /// The project folder [default: the home folder, for every project]
        #[arg(long)]
        project: Option<PathBuf>,
        /// Print the file as it would be written, and write nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        wait: HookWait,
    },
}

/// How the hook waits for a person.
#[derive(Debug, clap::Args)]
pub struct HookWait {
    /// How long to wait for a decision (keep it below the harness's hook timeout; `hook install` sets that)
    #[arg(long, value_parser = duration_arg, default_value = "50s")]
    pub wait: std::time::Duration,
    /// When no one decided in time: deny, ask (the harness asks its user),
    /// or defer (Claude Code -p: stop; resume once decided)
    #[arg(long, value_enum, default_value = "deny")]
    pub on_timeout: crate::hooks::OnTimeout,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// Send a test notification through each configured channel (or one)
    Test {
        /// Only this channel
        channel: Option<String>,
        /// Then wait this long for a click on a desktop notification's
        /// Approve/Reject and print it
        #[arg(long, value_parser = duration_arg)]
        wait_action: Option<std::time::Duration>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate a config (like `nginx -t`): rules in order, handlers executable
    Check {
        /// The file [default: --config, else ~/.config/hitl/config.yaml]
        file: Option<PathBuf>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// Write ~/.config/systemd/user/hitl.service for this binary and vault
    Install {
        /// Replace an installed unit that differs
        #[arg(long)]
        force: bool,
        /// Print what was done as JSON
        #[arg(long)]
        json: bool,
    },
    /// Stop and disable the unit (through systemctl --user), then remove it
    Uninstall,
}

#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    /// The action type, e.g. payment (a handler of that name runs it)
    pub action: String,
    /// The payload: JSON, @FILE, or - for stdin
    #[arg(long)]
    pub payload: Option<String>,
    /// A payload field (dotted keys nest); the value is JSON if it parses, else text
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// One line for the note's title and `hitl list`
    #[arg(long)]
    pub summary: Option<String>,
    /// Why the action is needed, shown in the note
    #[arg(long)]
    pub reason: Option<String>,
    /// How long the request may wait for a decision, e.g. 30m, 2h, "2 days"
    #[arg(long, value_parser = duration_arg)]
    pub timeout: Option<std::time::Duration>,
    /// A label for who asks (the journal records the real user)
    #[arg(long)]
    pub requested_by: Option<String>,
    /// POST the outcome (JSON) to this http(s) URL once the request is settled
    #[arg(long = "notify", value_name = "URL")]
    pub notify: Option<String>,
    /// Block until the request is settled; the exit code tells how
    #[arg(long)]
    pub wait: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `hitl history`'s filters. Times filter events; the others pick the
/// requests whose events are shown.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// A request id or unique prefix [default: every request]
    pub id: Option<String>,
    /// The same as the positional id
    #[arg(long = "id", value_name = "ID", conflicts_with = "id")]
    pub id_flag: Option<String>,
    /// Events at or after: RFC 3339, a local date or date-time, or a span back from now (7d, 2h)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Events before: RFC 3339, a local date or date-time, or a span back from now
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only requests of this action type
    #[arg(long)]
    pub action: Option<String>,
    /// Only requests whose status is now this
    #[arg(long, value_enum)]
    pub status: Option<StatusFilter>,
    /// Only requests decided by this actor (`cli:alice`, `alice`, `vault`, `rule:NAME`)
    #[arg(long, value_name = "WHO")]
    pub decided_by: Option<String>,
    /// Print JSON lines (times in RFC 3339 UTC)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the journal's hash chain
    Verify {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the whole trail, one row per event (csv: with a header row)
    Export {
        /// Output format
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

/// The statuses a request can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    Pending,
    Approved,
    Executing,
    Executed,
    Failed,
    Rejected,
    Expired,
    Cancelled,
    Tampered,
    Unknown,
}

impl StatusFilter {
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

fn duration_arg(s: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(s)
}
