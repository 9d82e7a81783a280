//! The engine loop: the one task that owns all request state.
//!
//! It takes inputs (file events from the watcher, commands from the socket,
//! handler results, deadlines, signals), feeds them to the pure [`Machine`],
//! journals the resulting events with one fsync per batch, and only then
//! carries out the effects: note writes, handler starts, replies.

mod anchor;
mod bulk;
pub mod checkpoint;
mod clock;
mod commands;
mod commit;
mod dashboard;
pub mod details;
mod files;
mod handlers;
mod inbox;
mod lock;
mod months;
mod note_index;
mod notice_cmds;
mod notices;
mod outage;
mod placement;
mod reads;
mod reconcile;
mod rewrite;
mod runs;
mod scan;
mod socket;
mod stamp_file;
mod start_stamps;
mod systemd;
mod trust;
mod write_retry;
mod writes;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::config::Config;
use crate::executor::Ran;
use crate::ipc::{self, Reply};
use crate::journal::{Journal, JournalError};
use crate::machine::{Effect, Input, Machine};
use crate::request::{ApplyError, Id};
use crate::vault::Vault;
use crate::watcher::{WatchEvent, WatchHandle};

pub use clock::Clock;
pub use lock::{StateLock, VaultLock};
use socket::CommandMsg;

/// Where the daemon works.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// The file a reload re-reads; `None` (or a file that doesn't exist)
    /// means the built-in defaults.
    pub config_path: Option<PathBuf>,
    pub vault: PathBuf,
    pub state_dir: PathBuf,
    /// The wall clock deadlines and journal times are read from:
    /// [`Clock::system`] but in tests.
    pub clock: Clock,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{}", opening_failed(.0))]
    Journal(#[from] JournalError),
    #[error("the journal disagrees with itself: {0}; restore it from a backup")]
    Replay(#[from] ApplyError),
    #[error(
        "{0}\nhitl stopped: the journal could not be written, and reading it back to undo the unwritten events failed too. Nothing journaled is lost; fix the cause and start hitl again"
    )]
    Outage(JournalError),
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("cannot watch the vault: {0}")]
    Watch(#[from] crate::watcher::WatchError),
    #[error("{0}")]
    Locked(String),
}

/// Why the journal could not be opened, and what to do: only damage calls
/// for a backup; a journal that can't be read or cut is not damaged.
fn opening_failed(e: &JournalError) -> String {
    match e {
        JournalError::Damaged { .. } => format!(
            "{e}\nhitl will not start on a damaged journal: it is the record of every decision. Restore journal.jsonl from a backup, or move it aside to start afresh (the vault's notes are then not trusted as requests)"
        ),
        _ => format!(
            "{e}\nhitl cannot open its journal. Nothing in it is lost; fix the cause (permissions, a full or read-only disk) and start hitl again"
        ),
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |error| DaemonError::Io { what, error }
}

/// How long a path must be quiet before it is read (cut short by
/// close-after-write and rename-to).
const SETTLE: Duration = Duration::from_millis(40);
/// How often to look for a vault that went away.
const VAULT_RETRY: Duration = Duration::from_secs(1);

/// A caller to answer once the batch is journaled, with the machine's reply.
type PendingReply = (
    oneshot::Sender<Reply>,
    Option<Result<Id, crate::machine::Refusal>>,
);

/// Runs the daemon until `shutdown` resolves; each message on `reload`
/// re-reads the config.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
    reload: mpsc::Receiver<()>,
) -> Result<(), DaemonError> {
    let state = settings.state_dir.clone();
    // The socket in here approves payments: only its owner may enter.
    ipc::private_dir(&state).map_err(io(format!("state folder {}", state.display())))?;
    let lock = StateLock::acquire(&state).map_err(DaemonError::Locked)?;
    let config = Arc::new(settings.config);
    let checkpoint::Replayed {
        journal,
        mut machine,
        torn,
        last_event,
        from_checkpoint,
    } = checkpoint::replay(&state, config.clone())?;
    if let Some(t) = torn {
        tracing::warn!(
            line = t.line,
            bytes = t.bytes,
            "the journal's last line was torn (power loss?) and was cut off; nothing before it is lost"
        );
    }
    let keys = crate::trust::Keys::load(&state).map_err(|e| DaemonError::Io {
        what: "approval code keys".into(),
        error: std::io::Error::other(e.to_string()),
    })?;
    machine.set_keys(Arc::new(keys));
    let vault = Vault::new(settings.vault.clone(), config.folders.clone());
    std::fs::create_dir_all(&vault.root).map_err(io(format!("vault {}", vault.root.display())))?;
    let vault_lock = VaultLock::acquire(&vault.root).map_err(DaemonError::Locked)?;
    vault
        .create_folders()
        .map_err(io(format!("vault {}", vault.root.display())))?;
    let inbox = ipc::inbox_dir(&state);
    ipc::private_dir(&inbox).map_err(io("inbox folder"))?;
    runs::prepare(&state).map_err(io("runs folder"))?;

    let (watch_tx, watch_rx) = mpsc::channel(1024);
    let (listener, sock) = trust::bind_socket(&state, config.access.socket_group.as_deref())?;
    let (cmd_tx, cmd_rx) = mpsc::channel::<CommandMsg>(256);
    let shared = config.access.socket_group.is_some();
    tokio::spawn(socket::serve(listener, cmd_tx, shared));

    let clock = settings.clock;
    let tz = jiff::tz::TimeZone::system();
    let machine_reminded: std::collections::BTreeSet<crate::request::Id> = machine
        .requests()
        .values()
        .filter(|r| r.reminded)
        .map(|r| r.id.clone())
        .collect();
    let dashboard = dashboard::start(&vault, &machine, &journal, &clock, &tz, &config);
    let mut engine = Engine {
        config_loaded_at: clock.now(),
        started: clock.now(),
        clock,
        machine,
        journal,
        vault,
        config_path: settings.config_path,
        state_dir: state.clone(),
        inbox,
        inbox_taken: Vec::new(),
        tz,
        dashboard,
        files: note_index::NoteIndex::default(),
        suspects: HashMap::new(),
        retries: HashMap::new(),
        files_due: None,
        ingested: HashMap::new(),
        waiters: HashMap::new(),
        handlers: JoinSet::new(),
        tasks: HashMap::new(),
        stop_handlers: watch::channel(false).0,
        watch: None,
        watch_tx,
        vault_missing: false,
        last_event,
        since_checkpoint: 0,
        last_status: String::new(),
        outage: None,
        recovered: false,
        held: Vec::new(),
        scan: Default::default(),
        writes: Default::default(),
        event_reads: None,
        notices: notices::Notices::start(&config.notify, &machine_reminded, &settings.vault),
    };
    engine.remember_drop_ins();
    if engine.vault.unusable().is_none() {
        // Otherwise the reconcile below reports why, and the watch is set
        // up once the vault is usable.
        engine.arm_watcher()?;
    }
    tokio::pin!(shutdown);
    let result = tokio::select! {
        biased;
        _ = &mut shutdown => {
            tracing::info!("stopped during start-up; nothing journaled is lost, the rest is read at the next start");
            Ok(())
        }
        started = engine.start_up() => match started {
            Ok(()) => {
                tracing::info!(vault = %settings.vault.display(), open = engine.open_count(), from_checkpoint, "hitl is ready");
                engine.last_status = engine.status_line();
                systemd::ready(&engine.last_status);
                crate::memory::trim("start-up");
                engine.run_loop(watch_rx, cmd_rx, reload, shutdown).await
            }
            Err(e) => Err(e),
        },
    };
    // A clean stop, in the run loop or during start-up (whose only await
    // is the off-thread listing, so the machine holds exactly what is
    // journaled), leaves a checkpoint for the next start.
    if result.is_ok() {
        engine.checkpoint(true);
    }
    engine.dashboard.finish();
    crate::vault::free_spares();
    if !engine.held.is_empty() {
        tracing::warn!(
            results = engine.held.len(),
            "stopped before the journal could be written again: those runs will be `unknown` at the next start"
        );
    }
    let _ = std::fs::remove_file(&sock);
    drop(vault_lock);
    drop(lock);
    result
}

pub(crate) struct Engine {
    /// Where "now" comes from: every input is handled at `clock.now()`.
    clock: Clock,
    /// All request state and every decision about it (pure; no I/O).
    machine: Machine,
    /// The source of truth: every batch of events is appended here before
    /// any of its effects happen.
    journal: Journal,
    /// The vault's folders, read and written only through its bounds.
    vault: Vault,
    /// The config file a reload re-reads (`None`: the built-in config).
    config_path: Option<PathBuf>,
    /// When the config in force was loaded, for `hitl status`.
    config_loaded_at: Timestamp,
    /// The state folder: run markers and handler output live here.
    state_dir: PathBuf,
    /// The inbox folder, to tell its files from the vault's in file events.
    inbox: PathBuf,
    /// Inbox files whose commands are in the batch being journaled; removed
    /// once it is.
    inbox_taken: Vec<PathBuf>,
    /// The system's time zone, looked up once: notes show local times.
    tz: jiff::tz::TimeZone,
    /// `Approvals.md`'s own thread, told about every journaled change.
    dashboard: crate::dashboard::Writer,
    /// Where each request's note is, what the engine wrote where, which
    /// file problems were logged.
    files: note_index::NoteIndex,
    /// Requests whose note a listing did not show, since when: missing only
    /// if a listing newer by a settling time still doesn't show it.
    suspects: HashMap<Id, Instant>,
    /// Notes whose read failed for a transient reason (out of descriptors,
    /// I/O error): attempts so far and when to read again.
    retries: HashMap<PathBuf, (u32, Instant)>,
    /// When suspects or retries are next due.
    files_due: Option<Instant>,
    /// Drop-ins taken, by file name and content fingerprint: never taken
    /// twice, even if their rewrite failed. Rebuilt from the journal.
    ingested: HashMap<(String, String), Id>,
    /// `hitl wait` callers, answered when their request settles.
    waiters: HashMap<Id, Vec<oneshot::Sender<Reply>>>,
    /// Running handlers; their results come back as engine inputs.
    handlers: JoinSet<(Id, Ran)>,
    /// Which request each handler task is for, so a task that panics still
    /// ends its request (`unknown`) instead of leaving it executing.
    tasks: HashMap<tokio::task::Id, Id>,
    /// Set to `true` at shutdown, after the grace period: ends the handlers.
    stop_handlers: watch::Sender<bool>,
    /// The inotify watch; dropped while the vault is away.
    watch: Option<WatchHandle>,
    /// Where a new watch (after the vault comes back, or a new month of
    /// `Done/`) sends its events: the loop's one receiver.
    watch_tx: mpsc::Sender<WatchEvent>,
    /// The vault's folders are gone or unreadable (unmounted, renamed...).
    vault_missing: bool,
    /// When this daemon started, for `hitl status`'s uptime.
    started: Timestamp,
    /// The time of the last journaled event, for `hitl status`.
    last_event: Option<Timestamp>,
    /// Events journaled since the last checkpoint.
    since_checkpoint: u64,
    /// The last STATUS= sent to systemd, to send only changes.
    last_status: String,
    /// Why the journal can't be written right now. While set, no new work
    /// is taken and no handler starts; `status` tells the reason.
    outage: Option<outage::Outage>,
    /// Whether the start-up recovery is journaled (it waits out an outage).
    recovered: bool,
    /// Handler results that came while the journal could not be written;
    /// journaled when it can be again.
    held: Vec<(Id, Ran)>,
    /// The reconcile reading the vault off this thread, if one is.
    scan: reads::InFlight,
    /// Note writes waiting for the end of the batch being carried out.
    writes: writes::WriteBatch,
    /// The notes file events named, being read off this thread.
    event_reads: Option<oneshot::Receiver<reads::EventReads>>,
    /// Notifications: the delivery task's handle, outcomes, reminders.
    notices: notices::Notices,
}

fn every(period: Duration) -> Interval {
    let mut i = tokio::time::interval_at(Instant::now() + period, period);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

impl Engine {
    async fn run_loop(
        &mut self,
        mut watch_rx: mpsc::Receiver<WatchEvent>,
        mut cmd_rx: mpsc::Receiver<CommandMsg>,
        mut reload: mpsc::Receiver<()>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), DaemonError> {
        tokio::pin!(shutdown);
        let mut reconcile = every(self.machine.config().reconcile_every);
        let watchdog_period = systemd::watchdog_interval();
        let mut watchdog = every(watchdog_period.unwrap_or(Duration::from_secs(3600)));
        let mut vault_retry = every(VAULT_RETRY);
        let mut journal_retry = every(outage::RETRY);
        let mut anchor_rx = anchor::start(self);
        loop {
            // Sleep to the earliest deadline, re-checked at least once a
            // reconcile period (see `Clock::sleep_until`).
            let deadline = self.machine.next_deadline();
            let recheck = self.machine.config().reconcile_every;
            let reminder = self.notices.next_reminder();
            tokio::select! {
                _ = &mut shutdown => break,
                Some(ev) = watch_rx.recv(), if self.outage.is_none() && self.event_reads.is_none() => {
                    let mut evs = vec![ev];
                    while evs.len() < 512 {
                        match watch_rx.try_recv() {
                            Ok(ev) => evs.push(ev),
                            Err(_) => break,
                        }
                    }
                    self.on_watch(evs)?;
                }
                Some(msg) = cmd_rx.recv() => {
                    let mut cmds = vec![msg];
                    while cmds.len() < 512 {
                        match cmd_rx.try_recv() {
                            Ok(c) => cmds.push(c),
                            Err(_) => break,
                        }
                    }
                    self.on_commands(cmds)?;
                }
                Some(done) = self.handlers.join_next_with_id(), if !self.handlers.is_empty() && self.outage.is_none() => {
                    self.task_done(done)?;
                }
                _ = sleep_to(&self.clock, deadline, recheck), if self.outage.is_none() => {
                    let step = self.machine.handle(Input::Tick, self.clock.now());
                    self.commit(vec![step], Vec::new())?;
                }
                _ = sleep_to(&self.clock, reminder, recheck), if self.outage.is_none() => self.send_reminders()?,
                Some(o) = self.notices.outcomes.recv(), if self.outage.is_none() => self.on_delivery(o)?,
                Some(a) = self.notices.actions.recv(), if self.outage.is_none() => self.on_desktop_action(a)?,
                _ = reconcile.tick() => self.begin_reconcile(reconcile::Scope::Periodic)?,
                scanned = reads::done(&mut self.scan.rx), if self.scan.rx.is_some() => {
                    self.reconcile_scanned(scanned)?;
                }
                read = reads::done(&mut self.event_reads), if self.event_reads.is_some() => {
                    self.event_reads_done(read)?;
                }
                _ = sleep_until_opt(self.files_due) => self.on_files_due()?,
                _ = bulk::after_the_rest(), if self.outage.is_none() && self.has_bulk_work() => self.bulk_work()?,
                _ = vault_retry.tick(), if self.vault_missing => self.check_vault()?,
                _ = journal_retry.tick(), if self.outage.is_some() => self.try_resume()?,
                _ = watchdog.tick(), if watchdog_period.is_some() => systemd::watchdog(),
                Some(msg) = recv_opt(&mut anchor_rx), if self.outage.is_none() => self.on_anchor(msg)?,
                Some(()) = reload.recv() => {
                    if self.reload() {
                        reconcile = every(self.machine.config().reconcile_every);
                    }
                }
            }
        }
        systemd::stopping();
        self.write_all_owed();
        self.write_all_history();
        self.finish_handlers().await
    }

    /// Re-reads the config. A valid one takes effect for new requests; an
    /// invalid one is refused and the old one stays. `true` if it changed.
    fn reload(&mut self) -> bool {
        systemd::reloading();
        let loaded = match &self.config_path {
            Some(path) if path.exists() => Config::load(path),
            _ => Ok(Config::builtin()),
        };
        let changed = match loaded {
            Err(e) => {
                tracing::error!(error = %e, "config reload refused, the old config stays in force");
                false
            }
            Ok(mut new) => {
                let old = self.machine.config();
                if new.folders != old.folders
                    || new.vault != old.vault
                    || new.state_dir != old.state_dir
                {
                    tracing::warn!(
                        "the vault, its folders and the state folder change only at restart"
                    );
                    new.folders = old.folders.clone();
                }
                self.notices.reconfigure(&new.notify);
                self.machine.set_config(Arc::new(new));
                self.config_loaded_at = self.clock.now();
                tracing::info!(rules = self.machine.config().rules.len(), "config reloaded");
                true
            }
        };
        systemd::ready(&self.status_line());
        changed
    }

    fn carry_out(&mut self, effect: Effect) {
        match effect {
            Effect::WriteNote { id, adopt } => self.write_note(&id, adopt),
            Effect::Annotate { path, warning } => self.annotate(&path, &warning),
            Effect::StartHandler { id, job } => self.start_handler(&id, job),
            Effect::SendCodes { id, codes } => self.send_codes(&id, codes),
        }
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn sleep_to(clock: &Clock, at: Option<Timestamp>, recheck: Duration) {
    match at {
        Some(at) => clock.sleep_until(at, recheck).await,
        None => std::future::pending().await,
    }
}
