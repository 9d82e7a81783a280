//! No handler process outlives its run.
//!
//! The daemon is a child subreaper: a descendant whose parent dies (a
//! double fork, a `setsid` that left the handler's process group) is
//! re-parented to the daemon rather than to init, so it can still be found.
//! A run's processes are then its leader's descendants, plus the orphans
//! re-parented to the daemon that belong to it: known from an earlier scan,
//! or carrying its `HITL_REQUEST_ID`. An orphan that can't be attributed is
//! ended too, as the daemon starts no children but handlers.
//!
//! Tokio reaps only its own children, by pid. The leaders are tokio's; every
//! other child of the daemon is an orphan and is reaped here, by pid, never
//! with `waitpid(-1)`. The registry below is locked around each spawn, so a
//! leader that was just forked is never taken for an orphan.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::procs::{self, Claim, Proc, ProcKey};

/// From SIGTERM to SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long to wait for processes SIGKILL doesn't end (stuck in the kernel).
const GIVE_UP: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// Set once this process is a subreaper: orphans then come to it, and the
/// ones no run claims are ended and reaped.
static SUBREAPER: AtomicBool = AtomicBool::new(false);
static NEXT_RUN: AtomicU64 = AtomicU64::new(1);
/// The runs in progress, by a token of their own.
static RUNS: Mutex<BTreeMap<u64, Entry>> = Mutex::new(BTreeMap::new());

struct Entry {
    id: String,
    leader_pid: i32,
    /// The leader's pid until tokio has reaped it.
    leader: Option<i32>,
    /// Every process seen as part of the run, so it stays attributed after
    /// its parent dies, whatever its environment says.
    known: HashSet<ProcKey>,
}

fn runs() -> MutexGuard<'static, BTreeMap<u64, Entry>> {
    RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`), so that
/// no handler descendant escapes to init. Call it once, at daemon start, in
/// a process that starts no children but handler runs: any other child
/// would be taken for a stray orphan, ended and reaped.
pub fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes plain integers.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc == 0 {
        SUBREAPER.store(true, Ordering::SeqCst);
    } else {
        let e = std::io::Error::last_os_error();
        tracing::warn!(
            "cannot become a child subreaper ({e}): a handler's process that leaves its group may outlive it"
        );
    }
}

/// A handler run's processes, registered from the leader's spawn until the
/// run is dropped.
pub struct Run {
    token: u64,
    /// [`end_all`] has run; a run dropped before that (its task aborted)
    /// kills what it can find of itself on the way out.
    ended: bool,
}

/// What ending a run's processes found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Processes of the run other than its leader.
    pub others: usize,
    /// Processes still there when hitl gave up waiting for them.
    pub survivors: usize,
}

impl Run {
    /// Spawns the leader with the registry locked.
    pub fn spawn(id: &str, cmd: &mut Command) -> std::io::Result<(Child, Run)> {
        let mut runs = runs();
        let child = cmd.spawn()?;
        let token = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let leader = child.id().map(|p| p as i32);
        let entry = Entry {
            id: id.to_string(),
            leader_pid: leader.unwrap_or(0),
            leader,
            known: HashSet::new(),
        };
        runs.insert(token, entry);
        Ok((
            child,
            Run {
                token,
                ended: false,
            },
        ))
    }

    fn leader_reaped(&self) {
        if let Some(e) = runs().get_mut(&self.token) {
            e.leader = None;
        }
    }

    /// Sends `sig` (if any) to every live process of the run and reaps the
    /// orphans that have exited; returns how many processes of the run are
    /// left, exited ones not yet reaped included.
    fn signal(&self, sig: Option<i32>) -> usize {
        let mut runs = runs();
        let me = std::process::id() as i32;
        let table = procs::table();
        let leaders: HashSet<i32> = runs.values().filter_map(|e| e.leader).collect();
        let subreaper = SUBREAPER.load(Ordering::SeqCst);
        if subreaper {
            reap_orphans(&table, me, &leaders);
        }
        let Some(this) = runs.get(&self.token) else {
            return 0;
        };
        let theirs: HashSet<ProcKey> = runs
            .iter()
            .filter(|(t, _)| **t != self.token)
            .flat_map(|(_, e)| e.known.iter().copied())
            .collect();
        let claim = Claim {
            me,
            id: &this.id,
            leader: this.leader,
            known: &this.known,
            theirs: &theirs,
            leaders: &leaders,
            take_strays: subreaper,
        };
        let members = procs::members(&table, &claim, procs::request_id);
        let leader = this.leader;
        if let (Some(sig), Some(leader)) = (sig, leader) {
            // The group first, in one go: its members can't fork past it.
            // SAFETY: killpg has no memory-safety preconditions.
            unsafe { libc::killpg(leader, sig) };
        }
        for p in members.iter().filter(|p| !p.zombie) {
            if let Some(sig) = sig {
                // SAFETY: kill has no memory-safety preconditions; a pid
                // that has just gone fails with ESRCH.
                unsafe { libc::kill(p.pid, sig) };
            }
        }
        // An exited process not yet reaped still counts: it is reaped here
        // once its parent is gone, and the run is over only then. The
        // leader is tokio's to reap.
        let left = members
            .iter()
            .filter(|p| !(p.zombie && Some(p.pid) == leader))
            .count();
        if let Some(this) = runs.get_mut(&self.token) {
            this.known.extend(members.iter().map(Proc::key));
        }
        left
    }

    /// How many processes besides its leader the run was seen to have.
    fn others_seen(&self) -> usize {
        runs().get(&self.token).map_or(0, |e| {
            e.known.iter().filter(|k| k.0 != e.leader_pid).count()
        })
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if !self.ended {
            self.signal(Some(libc::SIGKILL));
        }
        runs().remove(&self.token);
    }
}

/// Reaps every exited child of ours that is not a leader (tokio's to reap).
fn reap_orphans(table: &[Proc], me: i32, leaders: &HashSet<i32>) {
    for p in table {
        if p.ppid == me && p.zombie && !leaders.contains(&p.pid) {
            let mut status = 0;
            // SAFETY: waitpid on one pid with WNOHANG; `status` is a valid
            // out-pointer.
            unsafe { libc::waitpid(p.pid, &mut status, libc::WNOHANG) };
        }
    }
}

/// Ends every process of the run: SIGTERM, up to [`KILL_GRACE`] to go, then
/// SIGKILL (whether or not the leader has gone) until none is left.
/// `leader_exited` says tokio has already reaped the leader.
pub async fn end_all(child: &mut Child, run: &mut Run, leader_exited: bool) -> Ended {
    let ended = end_all_inner(child, run, leader_exited).await;
    run.ended = true;
    ended
}

async fn end_all_inner(child: &mut Child, run: &Run, leader_exited: bool) -> Ended {
    let mut leader_up = !leader_exited;
    if !leader_up {
        run.leader_reaped();
    }
    if run.signal(Some(libc::SIGTERM)) == 0 && !leader_up {
        return Ended {
            others: 0,
            survivors: 0,
        };
    }
    let grace_over = Instant::now() + KILL_GRACE;
    if leader_up
        && tokio::time::timeout_at(grace_over, child.wait())
            .await
            .is_ok()
    {
        leader_up = false;
        run.leader_reaped();
    }
    while Instant::now() < grace_over && run.signal(None) > 0 {
        tokio::time::sleep(POLL).await;
    }
    let give_up = Instant::now() + GIVE_UP;
    loop {
        let left = run.signal(Some(libc::SIGKILL));
        if leader_up && tokio::time::timeout(POLL, child.wait()).await.is_ok() {
            leader_up = false;
            run.leader_reaped();
            continue;
        }
        if left == 0 && !leader_up {
            return Ended {
                others: run.others_seen(),
                survivors: 0,
            };
        }
        if Instant::now() > give_up {
            tracing::error!(
                left,
                "processes of a handler run survive SIGKILL; giving up on them"
            );
            return Ended {
                others: run.others_seen(),
                survivors: left,
            };
        }
        if !leader_up {
            tokio::time::sleep(POLL).await;
        }
    }
}
