//! A crash campaign: submit by every channel, decide by every gesture, and
//! `kill -9` the daemon at random moments (start-up included) for a bounded
//! time; then check what must hold whatever the crash points were.
//!
//! `HITL_CRASH_SECONDS` sets the campaign's length (60 s by default);
//! `HITL_CRASH_SEED` replays a run. Both are printed.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::invariants::{assert_invariants_hold, list, spawn_daemon};
use crate::util::Env;

/// xorshift64*: a seeded generator, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The campaign's side of the world: what was acknowledged, and how.
#[derive(Default)]
struct Ledger {
    /// Ids a `hitl request` printed (journaled, or queued in the inbox).
    acknowledged: BTreeSet<String>,
    /// Requests that got one decision gesture (at most one each, so the
    /// note's status word can't disagree with the journal by design).
    decided: BTreeSet<String>,
    drop_ins: usize,
    kills: usize,
    /// Journal lengths at which a kill landed: distinct crash points.
    kill_points: BTreeSet<usize>,
}

fn submit(env: &Env, rng: &mut Rng, ledger: &mut Ledger) {
    let action = if rng.below(4) == 0 {
        "refund"
    } else {
        "payment"
    };
    let payload = format!(
        r#"{{"amount":{},"n":{}}}"#,
        500 + rng.below(5000),
        rng.next()
    );
    let out = env
        .cmd()
        .args(["request", action, "--payload", &payload])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    if out.status.success() {
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!id.is_empty(), "an acknowledged request prints its id");
        ledger.acknowledged.insert(id);
    }
}

fn drop_in(env: &Env, rng: &mut Rng, ledger: &mut Ledger) {
    let name = format!("agent-{}.md", rng.next());
    let text = format!(
        "---\ntype: approval_request\naction: payment\namount: {}\nrecipient: Client {}\n---\n",
        500 + rng.below(5000),
        rng.below(100)
    );
    let tmp = env.dir.path().join(&name);
    std::fs::write(&tmp, text).unwrap();
    // Agents write then move, so a half-written note is never seen.
    let _ = std::fs::rename(&tmp, env.folder("Pending_Approval").join(&name));
    ledger.drop_ins += 1;
}

/// One decision gesture on a pending request that has none yet.
fn gesture(env: &Env, rng: &mut Rng, ledger: &mut Ledger) {
    let pending: Vec<String> = list(env)
        .into_iter()
        .filter(|(id, st)| st == "pending" && !ledger.decided.contains(id))
        .map(|(id, _)| id)
        .collect();
    if pending.is_empty() {
        return;
    }
    let id = pending[rng.below(pending.len() as u64) as usize].clone();
    let Some(path) = env.note_path(&id) else {
        return; // not written yet: try another time
    };
    let approve = rng.below(3) != 0;
    let folder = if approve { "Approved" } else { "Rejected" };
    let done = match rng.below(4) {
        0 => std::fs::read_to_string(&path)
            .map(|t| {
                let box_ = if approve { "Approve" } else { "Reject" };
                let t = t.replace(&format!("- [ ] {box_}"), &format!("- [x] {box_}"));
                std::fs::write(&path, t).is_ok()
            })
            .unwrap_or(false),
        1 => std::fs::read_to_string(&path)
            .map(|t| {
                let t = t.replacen("status: pending\n", &format!("status: {folder}\n"), 1);
                std::fs::write(&path, t).is_ok()
            })
            .unwrap_or(false),
        2 => std::fs::rename(&path, env.folder(folder).join(path.file_name().unwrap())).is_ok(),
        _ => {
            let verb = if approve { "approve" } else { "reject" };
            env.cmd()
                .args([verb, &id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        }
    };
    if done {
        ledger.decided.insert(id);
    }
}

#[test]
fn random_kills_lose_nothing_acknowledged_and_run_nothing_twice() {
    let seconds: u64 = std::env::var("HITL_CRASH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("HITL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash campaign: HITL_CRASH_SEED={seed} HITL_CRASH_SECONDS={seconds}");
    let env = Env::new("reconcile_every: 2s\n");
    std::fs::create_dir_all(&env.vault).unwrap();
    let mut rng = Rng(seed);
    let mut ledger = Ledger::default();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        // Some work queued while the daemon is down: taken at its start.
        for _ in 0..rng.below(3) {
            match rng.below(3) {
                0 => submit(&env, &mut rng, &mut ledger),
                1 => drop_in(&env, &mut rng, &mut ledger),
                _ => gesture(&env, &mut rng, &mut ledger),
            }
        }
        let daemon = spawn_daemon(&env, &[]);
        // Half the kills land in the start-up (replay, inbox, reconcile).
        if rng.below(2) == 0 {
            let up = Instant::now() + Duration::from_secs(10);
            while env.hitl(&["status"]).0 != 0 && Instant::now() < up {
                std::thread::sleep(Duration::from_millis(5));
            }
            for _ in 0..1 + rng.below(4) {
                match rng.below(5) {
                    0 | 1 => submit(&env, &mut rng, &mut ledger),
                    2 => drop_in(&env, &mut rng, &mut ledger),
                    _ => gesture(&env, &mut rng, &mut ledger),
                }
            }
        }
        std::thread::sleep(Duration::from_millis(rng.below(120)));
        let at = env.journal().len();
        drop(daemon); // SIGKILL
        ledger.kills += 1;
        ledger.kill_points.insert(at);
    }
    // Let the daemon catch up: every queued command taken, every handler
    // done, every note written.
    let mut daemon = spawn_daemon(&env, &[]);
    eprintln!(
        "crash campaign: {} kills at {} distinct journal positions; {} requests acknowledged, {} drop-ins, {} gestures",
        ledger.kills,
        ledger.kill_points.len(),
        ledger.acknowledged.len(),
        ledger.drop_ins,
        ledger.decided.len()
    );
    let what = format!("seed {seed}");
    assert_invariants_hold(&env, &mut daemon, &ledger.acknowledged, &what);
}
