//! The daemon's `Approvals.md`. A thread of its own keeps the page's copy
//! of every request ([`Entry`]); the engine hands it the entries of the
//! requests each journaled batch changed, and never waits for it. The
//! thread writes the page:
//!
//! - coalesced: at most one write per [`Pace::min_gap`], however many
//!   changes come in between (a burst of 1,000 decisions is a few writes);
//! - only when what it shows changed: the page below its "as of" line is
//!   compared with the last one written (ages are in whole minutes, so an
//!   unchanged state renders the same bytes);
//! - atomically (temp file, fsync, rename), never reading or following what
//!   is at the path: a FIFO, a symlink or a huge file an agent left there is
//!   replaced, not opened;
//! - again every [`Pace::refresh`] while a request waits (its age and time
//!   left move), and every hour otherwise (the 7- and 30-day windows and
//!   the chart's days move too).

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use sha2::Digest;

use super::{Entry, NotifyFailure, Tally, body_with, header};
use crate::request::Id;

/// How often the page may be written, and how often it is looked at again.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// The least time between two renders of a changing page.
    pub min_gap: Duration,
    /// How often it is rendered again while a request waits.
    pub refresh: Duration,
}

/// How often a page with nothing waiting is rendered again.
const IDLE_REFRESH: Duration = Duration::from_secs(3600);
/// How many undelivered notifications the page remembers.
const KEPT_FAILURES: usize = 200;

impl Pace {
    /// The daemon's pace: at most two writes a second.
    pub fn daemon(refresh: Duration) -> Pace {
        Pace {
            min_gap: Duration::from_millis(500),
            refresh,
        }
    }
}

enum Msg {
    Changed(Vec<Entry>),
    Held(crate::request::Settled),
    NotifyFailed(NotifyFailure),
}

/// The handle the engine holds. Dropping it (or [`Writer::finish`]) writes
/// the last changes and ends the thread.
pub struct Writer {
    tx: Option<Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread with every request's entry; it writes the page
    /// at once, then after changes.
    pub fn spawn(
        path: PathBuf,
        entries: Vec<Entry>,
        now: impl Fn() -> Timestamp + Send + 'static,
        tz: TimeZone,
        pace: Pace,
    ) -> Writer {
        let none: LoadSettled = Box::new(Settled::default);
        Writer::spawn_with(path, entries, none, now, tz, pace)
    }

    /// [`Writer::spawn`] with settled requests as compact records too,
    /// and how to read the details of those the page lists: `settled`
    /// runs on the page's thread, before its first render, so a pass over
    /// millions of records costs the engine nothing.
    pub fn spawn_with(
        path: PathBuf,
        entries: Vec<Entry>,
        settled: LoadSettled,
        now: impl Fn() -> Timestamp + Send + 'static,
        tz: TimeZone,
        pace: Pace,
    ) -> Writer {
        let page = Page {
            path,
            settled: Settled::default(),
            entries: entries.into_iter().map(Keyed::new).collect(),
            failures: Vec::new(),
            now: Box::new(now),
            tz,
            shown: None,
            open: false,
        };
        // Unbounded: the engine must never wait here, and what it sends is
        // bounded by what it journals; the thread drains it all at once.
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("hitl-dashboard".into())
            .spawn(move || run(page, settled, rx, pace))
            .map_err(|e| tracing::error!(error = %e, "the dashboard thread could not start; Approvals.md is not kept up to date"))
            .ok();
        Writer {
            tx: Some(tx),
            thread,
        }
    }

    /// The entries of requests that changed (or are new).
    pub fn changed(&self, entries: Vec<Entry>) {
        if !entries.is_empty() {
            self.send(Msg::Changed(entries));
        }
    }

    /// A settled request known by its compact record `s` is held in full
    /// again (an input concerns it): the page holds it whole from now on,
    /// and no longer counts it among the others.
    pub fn held(&self, s: crate::request::Settled) {
        self.send(Msg::Held(s));
    }

    /// A notification given up on, for "Needs a look".
    pub fn notify_failed(&self, failure: NotifyFailure) {
        self.send(Msg::NotifyFailed(failure));
    }

    fn send(&self, msg: Msg) {
        if let Some(tx) = &self.tx {
            // A send fails only once the thread is gone; the page then
            // stays as it was, which its "as of" line says.
            let _ = tx.send(msg);
        }
    }

    /// Writes what changed last and waits for the thread to end.
    pub fn finish(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.finish();
    }
}

/// How the page reads the whole entry of a settled request it lists.
pub type ReadDetails = Box<dyn Fn(&crate::request::Settled) -> Option<Entry> + Send>;

/// How the page's thread gets its [`Settled`] at start.
pub type LoadSettled = Box<dyn FnOnce() -> Settled + Send>;

/// Settled requests known only by their compact records, sorted by id,
/// and how to read the whole entry of one the page lists.
#[derive(Default)]
pub struct Settled {
    /// The records a render could show (see [`super::choose`]).
    pub records: Vec<crate::request::Settled>,
    /// The others, by status: only counted, never listed. Their ids are
    /// not kept (8 bytes each were 26 MB at 3.3M settled): one held in
    /// full again is known by its record ([`Writer::held`]).
    pub tally: Tally,
    pub details: Option<ReadDetails>,
    /// The undelivered notifications of settled requests.
    pub failures: Vec<NotifyFailure>,
}

/// An entry in the page's set, found by its id: the id is stored once
/// (in the entry), and a slot of the set is one pointer, so growing the
/// set moves pointers, not entries.
struct Keyed(Box<Entry>);

impl Keyed {
    fn new(e: Entry) -> Keyed {
        Keyed(Box::new(e))
    }
}

impl Borrow<str> for Keyed {
    fn borrow(&self) -> &str {
        &self.0.id
    }
}

impl Hash for Keyed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, so lookups by `&str` find it.
        self.0.id.hash(state);
    }
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Keyed) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for Keyed {}

/// The page's state, owned by its thread.
struct Page {
    path: PathBuf,
    /// Requests known by compact records only (none in `entries`).
    settled: Settled,
    entries: HashSet<Keyed>,
    failures: Vec<NotifyFailure>,
    now: Box<dyn Fn() -> Timestamp + Send>,
    tz: TimeZone,
    /// The SHA-256 of the body last written; `None` before the first
    /// write. A digest, not the text: with 10,000 open requests the body
    /// is over a megabyte.
    shown: Option<[u8; 32]>,
    /// Whether a request was waiting at the last render.
    open: bool,
}

fn run(mut page: Page, settled: LoadSettled, rx: Receiver<Msg>, pace: Pace) {
    let mut settled = settled();
    page.failures.append(&mut settled.failures);
    page.settled = settled;
    let start = Instant::now();
    let mut last = start.checked_sub(pace.min_gap).unwrap_or(start);
    let mut dirty = true;
    let due = |last: Instant, dirty: bool, open: bool| match (dirty, open) {
        (true, _) => last + pace.min_gap,
        (false, true) => last + pace.refresh,
        (false, false) => last + IDLE_REFRESH,
    };
    loop {
        let wait = due(last, dirty, page.open).saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(msg) => {
                page.apply(msg);
                while let Ok(more) = rx.try_recv() {
                    page.apply(more);
                }
                dirty = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if dirty {
                    page.render();
                }
                return;
            }
        }
        if Instant::now() >= due(last, dirty, page.open) {
            page.render();
            last = Instant::now();
            dirty = false;
        }
    }
}

impl Page {
    /// The entries the page holds whole.
    fn values(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().map(|k| &*k.0)
    }

    /// The entries a render at `now` needs of the settled requests known
    /// only by compact records, and the count of the others.
    fn brief(&self, now: Timestamp) -> (Vec<Entry>, Tally) {
        let number = |e: &Entry| crate::request::settled::id_number(&e.id);
        let whole: HashSet<u64> = self.values().filter_map(number).collect();
        let records = self.settled.records.iter().copied();
        let (entries, more) = super::select(records, |n| whole.contains(&n), now);
        (entries, more.plus(&self.settled.tally))
    }

    /// Reads the whole entries of the listed ones known only by compact
    /// records (kept after); whether there were any.
    fn read_listed(&mut self, listed: &[Id]) -> bool {
        let Some(details) = &self.settled.details else {
            return false;
        };
        let mut read = false;
        for id in listed {
            if self.entries.contains(id.as_str()) {
                continue;
            }
            let Some(n) = crate::request::settled::id_number(id) else {
                continue;
            };
            let records = &self.settled.records;
            if let Ok(i) = records.binary_search_by_key(&n, |s| s.id)
                && let Some(e) = details(&records[i])
            {
                self.entries.replace(Keyed::new(e));
                read = true;
            }
        }
        read
    }

    /// Holds whole a settled request the page only counted: out of the
    /// counts, into the entries (read back, or as its record says if the
    /// journal can't be read). One the page shows already is left as is.
    fn hold(&mut self, s: crate::request::Settled) {
        let id = s.id();
        let records = &self.settled.records;
        if self.entries.contains(id.as_str())
            || records.binary_search_by_key(&s.id, |r| r.id).is_ok()
        {
            return;
        }
        self.settled.tally.take(s.kind.name());
        let read = self
            .settled
            .details
            .as_ref()
            .and_then(|details| details(&s));
        let e = read.unwrap_or_else(|| Entry::from_settled(&s));
        self.entries.replace(Keyed::new(e));
    }

    fn apply(&mut self, msg: Msg) {
        match msg {
            Msg::Changed(entries) => {
                for e in entries {
                    self.entries.replace(Keyed::new(e));
                }
            }
            Msg::Held(s) => self.hold(s),
            Msg::NotifyFailed(mut f) => {
                f.stem = f.stem.or_else(|| {
                    self.entries
                        .get(f.request.as_str())
                        .map(|e| e.0.stem.to_string())
                });
                self.failures.push(f);
                if self.failures.len() > KEPT_FAILURES {
                    self.failures.remove(0);
                }
            }
        }
    }

    /// Renders the page and writes it if what it shows changed.
    fn render(&mut self) {
        let started = Instant::now();
        let now = (self.now)();
        let (brief, more) = self.brief(now);
        let listed = super::listed(&self.values().chain(&brief).collect::<Vec<_>>());
        let (brief, more) = if self.read_listed(&listed) {
            self.brief(now)
        } else {
            (brief, more)
        };
        let all: Vec<&Entry> = self.entries.iter().map(|k| &*k.0).chain(&brief).collect();
        let open = all.iter().any(|e| e.status == "pending");
        let body = body_with(&all, &more, &self.failures, now, &self.tz);
        let took_ms = started.elapsed().as_millis() as u64;
        let requests = all.len() + more.all;
        drop(all);
        self.open = open;
        let digest: [u8; 32] = sha2::Sha256::digest(body.as_bytes()).into();
        if self.shown == Some(digest) {
            tracing::debug!(requests, took_ms, "dashboard unchanged; not written");
            return;
        }
        let page = header(now, &self.tz) + &body;
        match crate::vault::write_atomic(&self.path, &page) {
            Ok(()) => {
                tracing::debug!(path = %self.path.display(), requests, took_ms, "dashboard written");
                self.shown = Some(digest);
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "dashboard not written");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, status: &'static str) -> Entry {
        let at = Timestamp::from_second(1_795_000_000).expect("a valid time");
        Entry {
            id: id.into(),
            stem: format!("ship-{id}").into(),
            action: "ship".into(),
            summary: "Ship it".into(),
            risk: crate::rules::Risk::Low,
            requested_by: "cli:agent".into(),
            created: at,
            expires: at,
            status,
            needs_look: false,
            decision: None,
            cancelled: None,
            settled_at: at,
            last_line: Box::default(),
            brief: false,
        }
    }

    #[test]
    fn the_last_change_before_the_daemon_stops_reaches_the_page() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("Approvals.md");
        let pace = Pace {
            min_gap: Duration::from_secs(3600),
            refresh: Duration::from_secs(3600),
        };
        let now = || Timestamp::from_second(1_795_000_100).expect("a valid time");
        let mut writer = Writer::spawn(path.clone(), vec![], now, TimeZone::UTC, pace);
        for i in 0..1000 {
            writer.changed(vec![entry(&format!("a{i:011}"), "pending")]);
        }
        writer.changed(vec![entry("a00000000007", "expired")]);
        // Within the hour's gap nothing more is written, but stopping
        // writes what changed.
        writer.finish();
        let page = std::fs::read_to_string(&path).expect("the page");
        assert!(page.contains("## Waiting for you (999)"), "{page}");
        assert!(page.contains("| expired | 1 |"), "{page}");
    }

    #[test]
    fn the_page_keeps_one_entry_per_id_and_writes_what_render_makes_of_them() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("Approvals.md");
        let pace = Pace {
            min_gap: Duration::from_secs(3600),
            refresh: Duration::from_secs(3600),
        };
        let now = || Timestamp::from_second(1_795_000_100).expect("a valid time");
        let first: Vec<Entry> = (0..300)
            .map(|i| entry(&format!("a{i:011}"), "pending"))
            .collect();
        let mut writer = Writer::spawn(path.clone(), first.clone(), now, TimeZone::UTC, pace);
        // The same ids again, some changed: each replaces its entry.
        let mut last = first;
        for i in (0..300).step_by(7) {
            let mut e = entry(&format!("a{i:011}"), "expired");
            e.summary = format!("Changed {i}").into();
            writer.changed(vec![e.clone()]);
            last[i] = e;
        }
        writer.finish();
        let page = std::fs::read_to_string(&path).expect("the page");
        let refs: Vec<&Entry> = last.iter().collect();
        let want = header(now(), &TimeZone::UTC)
            + &crate::dashboard::body(&refs, &[], now(), &TimeZone::UTC);
        assert_eq!(page, want);
        assert!(page.contains("| **all** | 300 |"), "{page}");
    }
}
