//! The dashboard at scale: 100,000 decided requests (journal and `Done/`
//! notes), then the daemon's start-up, one decision's latency and a
//! regeneration of `Approvals.md`. Prints the figures; asserts nothing.
//!
//!     cargo build --release --bin hitl --example dashboard_bench
//!     target/release/examples/dashboard_bench [N]
//!     target/release/examples/dashboard_bench --generate DIR [N]   # data only
//!
//! The daemon starts twice: first with no note stamps (every note read),
//! then after a clean stop, with the stamps it wrote down. `HITL_BIN`
//! runs another build of the daemon.
//!
//! It drives `target/release/hitl` (the same build) against a temporary
//! vault; the journal is written with the library's own `Journal`, so its
//! format and hashes are the daemon's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hitl::dashboard::{self, Entry};
use hitl::journal::Journal;
use hitl::request::{Event, EventKind, Request, Source, Submission, apply, new_id};
use hitl::rules::Risk;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, dir, rest @ ..] = args.as_slice()
        && flag == "--generate"
    {
        // For bench/run: the data only, in DIR (vault/, state/, config.yaml).
        let n = rest
            .first()
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(100_000);
        make(Path::new(dir), n)?;
        return Ok(());
    }
    let n: usize = args
        .first()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let tmp = std::env::temp_dir().join(format!("hitl-dashboard-bench-{}", new_id()));
    let t = Instant::now();
    let (requests, vault, state, config) = make(&tmp, n)?;
    println!(
        "generated {n} decided requests (journal + Done/ notes) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    regeneration(&requests);
    drop(requests);
    let mut daemon = Daemon::start(&tmp, &vault, &state, &config, "first start, no stamps")?;
    daemon.decision_latency(&vault, &state)?;
    daemon.stop();
    if let Some(line) = daemon.last_line("dashboard written") {
        println!("the daemon's own last dashboard write: {line}");
    }
    // The clean stop wrote a checkpoint and the note stamps.
    let mut daemon = Daemon::start(&tmp, &vault, &state, &config, "restart, stamps kept")?;
    daemon.stop();
    std::fs::remove_dir_all(&tmp)?;
    Ok(())
}

/// The vault, state folder and config of `n` decided requests in `dir`.
fn make(dir: &Path, n: usize) -> Result<(Vec<Request>, PathBuf, PathBuf, PathBuf)> {
    let (vault, state) = (dir.join("vault"), dir.join("state"));
    for folder in ["Pending_Approval", "Approved", "Rejected", "Done"] {
        std::fs::create_dir_all(vault.join(folder))?;
    }
    std::fs::create_dir_all(&state)?;
    let config = dir.join("config.yaml");
    std::fs::write(&config, "rules: []\ndefault: require\n")?;
    let requests = generate(n, &state, &vault)?;
    Ok((requests, vault, state, config))
}

/// `n` requests, each submitted and decided (approved or rejected, an
/// approval-only action) over the last 60 days, journaled in batches, and
/// each note written in its month of `Done/`.
fn generate(n: usize, state: &Path, vault: &Path) -> Result<Vec<Request>> {
    let (mut journal, _, _) = Journal::open(&state.join("journal.jsonl"))?;
    let now = Timestamp::now();
    let tz = TimeZone::system();
    let mut all = BTreeMap::new();
    let mut batch = Vec::new();
    for i in 0..n {
        let id = new_id();
        let created =
            now - SignedDuration::from_secs(60 * 86_400 * (n - i) as i64 / n as i64 + 600);
        let payload = json!({"amount": 500 + i % 1000, "recipient": format!("vendor-{}", i % 97)});
        let sub = Submission {
            action: "payment".into(),
            payload_sha256: hitl::payload::sha256(&payload),
            payload: payload.into(),
            summary: format!("Pay invoice {i}"),
            rationale: None,
            requested_by: "cli:bench".into(),
            created,
            expires: created + SignedDuration::from_hours(24),
            risk: Risk::Medium,
            signals: vec![],
            rule: None,
            file_name: format!("payment-{id}.md"),
            source: Source::Cli,
            drop_in_sha256: None,
            notify_requester: None,
            key: None,
        };
        let decided = if i % 5 == 0 {
            EventKind::Rejected {
                reason: Some("not this one".into()),
                gesture: "cli".into(),
            }
        } else {
            EventKind::Approved {
                reason: None,
                gesture: "cli".into(),
                runs_handler: false,
            }
        };
        let at = created + SignedDuration::from_secs(60 + (i % 3600) as i64);
        for (time, kind) in [
            (created, EventKind::Submitted(Box::new(sub))),
            (at, decided),
        ] {
            let ev = Event {
                time,
                request: id.clone(),
                actor: "cli:bench".into(),
                kind,
            };
            apply(&mut all, &ev)?;
            batch.push(ev);
        }
        if batch.len() >= 2_000 {
            journal.append(&batch)?;
            batch.clear();
        }
    }
    journal.append(&batch)?;
    for r in all.values() {
        let month = hitl::vault::month_of(r.settled_at(), &tz);
        let dir = vault.join("Done").join(month);
        std::fs::create_dir_all(&dir)?;
        let note = hitl::note::render(r, &[], None, &tz);
        std::fs::write(dir.join(&r.sub.file_name), note)?;
    }
    Ok(all.into_values().collect())
}

/// What the daemon's dashboard thread does on each change: render the
/// page from its entries (the write is one atomic file replace).
fn regeneration(requests: &[Request]) {
    let entries: Vec<Entry> = requests.iter().map(Entry::from).collect();
    let tz = TimeZone::system();
    let mut took = Vec::new();
    let mut size = 0;
    for _ in 0..7 {
        let t = Instant::now();
        let page = dashboard::render(&entries, &[], Timestamp::now(), &tz);
        took.push(t.elapsed());
        size = page.len();
    }
    took.sort();
    println!(
        "dashboard regeneration over {} requests: median {:.1} ms, max {:.1} ms ({size} bytes)",
        entries.len(),
        ms(took[took.len() / 2]),
        ms(took[took.len() - 1])
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Daemon {
    child: Child,
    log: PathBuf,
    bin: PathBuf,
    env: Vec<(&'static str, PathBuf)>,
}

impl Daemon {
    fn start(tmp: &Path, vault: &Path, state: &Path, config: &Path, what: &str) -> Result<Daemon> {
        // HITL_BIN: another build of the daemon (the figures before a change).
        let bin = match std::env::var_os("HITL_BIN") {
            Some(bin) => PathBuf::from(bin),
            None => std::env::current_exe()?
                .parent()
                .and_then(Path::parent)
                .map(|release| release.join("hitl"))
                .ok_or("no release folder")?,
        };
        let log = tmp.join("daemon.log");
        let env = vec![
            ("HITL_VAULT", vault.to_path_buf()),
            ("HITL_STATE_DIR", state.to_path_buf()),
            ("HITL_CONFIG", config.to_path_buf()),
        ];
        let t = Instant::now();
        let child = Command::new(&bin)
            .arg("run")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "hitl=debug")
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        let daemon = Daemon {
            child,
            log,
            bin,
            env,
        };
        while !daemon.hitl(&["status"])?.status.success() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let took = t.elapsed();
        let status = daemon.hitl(&["status", "--json"])?;
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
        println!(
            "daemon start-up, {what} (until `hitl status` answers): {:.0} ms; RSS {:.1} MB; start-up reads: {}",
            ms(took),
            daemon.rss_mb().unwrap_or(f64::NAN),
            status["daemon"]["start_up"]
        );
        Ok(daemon)
    }

    /// The daemon's resident memory, from /proc.
    fn rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    fn hitl(&self, args: &[&str]) -> Result<std::process::Output> {
        Ok(Command::new(&self.bin)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()?)
    }

    /// Five decisions by ticking Approve in the note: time from the save
    /// to the journaled decision.
    fn decision_latency(&self, vault: &Path, state: &Path) -> Result<()> {
        let mut took = Vec::new();
        for i in 0..5 {
            let out = self.hitl(&["request", "ship", "--set", &format!("parcel={i}")])?;
            let id = String::from_utf8(out.stdout)?.trim().to_string();
            let note = vault.join("Pending_Approval").join(format!("ship-{id}.md"));
            while !std::fs::read_to_string(&note).is_ok_and(|t| t.contains("- [ ] Approve")) {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(100));
            let text = std::fs::read_to_string(&note)?.replace("- [ ] Approve", "- [x] Approve");
            let journal = state.join("journal.jsonl");
            let from = std::fs::metadata(&journal)?.len();
            let want = format!("\"request\":\"{id}\"");
            let t = Instant::now();
            std::fs::write(&note, text)?;
            while !journal_tail(&journal, from)?
                .lines()
                .any(|l| l.contains(&want) && l.contains("\"event\":\"approved\""))
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            took.push(t.elapsed());
        }
        let shown: Vec<String> = took.iter().map(|d| format!("{:.0}", ms(*d))).collect();
        println!(
            "one decision (Approve ticked -> journaled), 5 runs: {} ms",
            shown.join(", ")
        );
        Ok(())
    }

    fn stop(&mut self) {
        terminate(self.child.id());
        let _ = self.child.wait();
    }

    fn last_line(&self, what: &str) -> Option<String> {
        let log = std::fs::read_to_string(&self.log).ok()?;
        log.lines()
            .rev()
            .find(|l| l.contains(what))
            .map(String::from)
    }
}

/// What was appended to the journal after its first `from` bytes.
fn journal_tail(journal: &Path, from: u64) -> Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(journal)?;
    f.seek(SeekFrom::Start(from))?;
    let mut tail = String::new();
    f.read_to_string(&mut tail)?;
    Ok(tail)
}

/// SIGTERM through the `kill` command: the daemon stops as under systemd.
fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}
