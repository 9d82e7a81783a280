//! The reading half of a reconcile, run off the engine thread: list the
//! folders, `stat` every note, and read, hash and parse only the notes whose
//! stamp changed since the engine last saw them. The engine gets what was
//! read as parsed views and decides (see `reconcile.rs`).

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::reconcile::{Scope, worth_reading};
use crate::note::{self, NoteError, NoteView};
use crate::vault::Stamp;
use crate::vault::{Folder, Kind, ReadError, Vault, classify};

/// A note's text as read, with what the engine needs to decide on it.
#[derive(Debug)]
pub(crate) struct NoteText {
    pub text: String,
    /// To recognise the echo of the engine's own write.
    pub digest: Digest,
    pub view: Result<NoteView, NoteError>,
    /// The file's stamp, taken on the descriptor before reading, and when.
    pub stamp: Stamp,
    pub at: SystemTime,
}

/// A note read: `Ok(None)` when it is gone.
pub(crate) type NoteRead = Result<Option<NoteText>, ReadError>;

/// Reads, hashes and parses a note with the vault's bounds.
pub(crate) fn read_note(vault: &Vault, path: &Path, cap: u64) -> NoteRead {
    let at = SystemTime::now();
    let Some((text, meta)) = vault.read_with_meta(path, cap)? else {
        return Ok(None);
    };
    Ok(Some(NoteText {
        digest: digest(text.as_bytes()),
        view: note::parse(&text),
        stamp: Stamp::of(&meta),
        at,
        text,
    }))
}

/// What a scan found at one listed path it did not skip.
#[derive(Debug)]
pub(crate) enum Seen {
    /// Not a note of the vault (an inbox command, a temp file, a conflict
    /// copy...): the engine looks at it itself.
    Other(PathBuf),
    /// Read (or found gone, or failed) just now.
    Read(PathBuf, Folder, Box<NoteRead>),
}

impl Seen {
    fn path(&self) -> &Path {
        match self {
            Seen::Other(p) | Seen::Read(p, _, _) => p,
        }
    }
}

/// The stamps the engine last saw, by folder, then by file name (hashing
/// a whole `Path` walks its components, which showed in profiles). Each
/// folder's are shared with a scan in flight and copied on write, so a
/// change in one folder copies only that folder's.
pub(crate) type Stamps = HashMap<OsString, Arc<HashMap<OsString, Known>>>;

/// The stamp of the file at `path`, if `stamps` has one.
pub(crate) fn known_at<'a>(stamps: &'a Stamps, path: &Path) -> Option<&'a Known> {
    let (dir, name) = split(path)?;
    stamps.get(dir)?.get(name)
}

/// A path's folder and file name, split at its last `/` (the paths here
/// are built by joining a folder and a name; `Path::parent` and
/// `file_name` parse components, which showed in profiles).
pub(crate) fn split(path: &Path) -> Option<(&OsStr, &OsStr)> {
    let bytes = path.as_os_str().as_bytes();
    let at = bytes.iter().rposition(|b| *b == b'/')?;
    let (dir, name) = (&bytes[..at], &bytes[at + 1..]);
    (!name.is_empty()).then(|| (OsStr::from_bytes(dir), OsStr::from_bytes(name)))
}

/// What the engine knows of a file it read: its stamp, when the stamp was
/// taken, and the digest of the text it had then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Known {
    pub stamp: Stamp,
    pub at: SystemTime,
    pub digest: Digest,
}

/// A note's text, identified by the first 128 bits of its SHA-256: as
/// hard to forge as the whole for a writer who wants a given digest, at a
/// quarter of the memory of its hex (kept for every note of the vault).
pub(crate) type Digest = u128;

pub(crate) fn digest(bytes: &[u8]) -> Digest {
    use sha2::{Digest as _, Sha256};
    let full = Sha256::digest(bytes);
    let mut first = [0u8; 16];
    first.copy_from_slice(&full[..16]);
    u128::from_be_bytes(first)
}

/// A folder when last listed in full: its stamp, when it was taken, and
/// how many files the listing showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FolderSeen {
    pub stamp: Stamp,
    pub at: SystemTime,
    pub files: usize,
}

/// The folders whose last full listing may stand for the next one (see
/// [`folder_unchanged`]).
pub(crate) type FolderStamps = HashMap<PathBuf, FolderSeen>;

/// What a scan needs, owned, so it can run on another thread.
pub(crate) struct Plan {
    pub vault: Vault,
    /// The inbox (no folder), then every folder notes are read from.
    pub dirs: Vec<(PathBuf, Option<Folder>)>,
    pub cap: u64,
    pub known: Stamps,
    /// Periodic: a note in `Done/` the engine knows is not even stat'ed
    /// (its events keep it right), so the cost doesn't grow with history;
    /// nor is a folder of `Done/` listed whose own stamp is the one of its
    /// last listing (no file was added, removed or renamed in it).
    pub scope: Scope,
    pub folders: Arc<FolderStamps>,
    /// Which periodic reconcile this is: each `stat`s another share of
    /// the notes of `Done/` it knows all the same (see [`Sweep`]).
    pub turn: u64,
    /// Set to stop the scan (shutdown during start-up).
    pub cancel: Arc<AtomicBool>,
    /// The descriptors held on the notes of the folders of open notes
    /// (see `scan_held.rs`), kept from scan to scan.
    pub held: Arc<Mutex<Held>>,
}

/// What a scan found.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// What the engine must look at, in listing order.
    pub seen: Vec<Seen>,
    /// Which paths the listing showed.
    pub listed: Listed,
    /// How many were not read: their stamp is the one last seen.
    pub unchanged: usize,
    /// Paths with a stamp that the listing no longer shows.
    pub stale: Vec<PathBuf>,
    /// How many files were listed (or `stat`ed by name, see `unlisted`).
    pub count: usize,
    /// How many of them were `stat`ed by name in a folder not listed.
    pub unlisted: usize,
    /// How many unchanged files were `stat`ed through a held descriptor.
    pub held: usize,
    /// The CPU time the scan took.
    pub took: std::time::Duration,
    /// The folders of `Done/` listed, with their stamp taken before.
    pub folders: Vec<(PathBuf, FolderSeen)>,
}

/// Which paths a listing showed, without a set of them all: every file
/// the scan knew is there (in a folder listed, or in a folder of `Done/`
/// unchanged since its last listing) unless it is stale; of the others,
/// the ones listed.
#[derive(Debug, Default)]
pub(crate) struct Listed {
    known: Stamps,
    stale: HashSet<OsString>,
    unknown: HashSet<OsString>,
}

impl Listed {
    /// Whether every file the scan knew is still there (or in a folder of
    /// `Done/` unchanged since its last listing).
    pub(crate) fn lost_none(&self) -> bool {
        self.stale.is_empty()
    }

    /// Whether the listing showed `path` as a file the scan knew (by its
    /// stamp) and did not lose.
    pub(crate) fn shows_by_stamp(&self, path: &Path) -> bool {
        known_at(&self.known, path).is_some()
            && (self.stale.is_empty() || !self.stale.contains(path.as_os_str()))
    }

    pub(crate) fn shows(&self, path: &Path) -> bool {
        if known_at(&self.known, path).is_some() {
            self.stale.is_empty() || !self.stale.contains(path.as_os_str())
        } else {
            self.unknown.contains(path.as_os_str())
        }
    }
}

/// Lists, stats and reads; `None` if cancelled.
pub(crate) fn scan(plan: &Plan) -> Option<Listing> {
    let started = thread_cpu();
    let mut out = Listing::default();
    let sweep = Sweep::of(plan);
    // Another scan (one on the engine thread while one runs off it) goes
    // by name.
    let mut held = plan.held.try_lock().ok();
    if let Some(held) = held.as_mut() {
        held.begin();
    }
    for (dir, folder) in &plan.dirs {
        let folder_stamp = match folder_unchanged(plan, dir, *folder) {
            Unchanged::Yes if *folder == Some(Folder::Done) => {
                sweep_unlisted(plan, dir, sweep, &mut out);
                continue;
            }
            Unchanged::Yes => {
                stat_unlisted(plan, dir, *folder, sweep, held.as_deref_mut(), &mut out)?;
                continue;
            }
            Unchanged::No(stamp) => stamp,
        };
        list(plan, dir, *folder, folder_stamp, sweep, &mut out)?;
    }
    // Folders no longer looked at (a month of `Done/` removed): all stale.
    let looked_at = |d: &OsString| plan.dirs.iter().any(|(dir, _)| dir.as_os_str() == d);
    for (dir, here) in plan.known.iter().filter(|(d, _)| !looked_at(d)) {
        out.stale
            .extend(here.keys().map(|n| Path::new(dir).join(n)));
    }
    out.listed.stale = out.stale.iter().map(|p| p.as_os_str().to_owned()).collect();
    out.listed.known = plan.known.clone();
    if let Some(held) = held.as_mut() {
        held.end();
    }
    out.took = thread_cpu().saturating_sub(started);
    Some(out)
}

/// Lists the folder `dir` and looks at each file; `folder_stamp`: the
/// folder's own stamp taken before, to remember if the listing may stand
/// for the next one. `None` if cancelled.
fn list(
    plan: &Plan,
    dir: &Path,
    folder: Option<Folder>,
    folder_stamp: Option<(Stamp, SystemTime)>,
    sweep: Sweep,
    out: &mut Listing,
) -> Option<()> {
    let listed_before = out.count;
    let first = out.seen.len();
    let here = plan.known.get(dir.as_os_str());
    let mut known_listed = 0;
    let mut listing = Dir::open(dir);
    while let Some(entry) = listing.as_mut().and_then(Dir::next) {
        if plan.cancel.load(Ordering::Relaxed) {
            return None;
        }
        let known = here.and_then(|h| h.get(entry.name()));
        known_listed += usize::from(known.is_some());
        let stamp = || entry.stamp();
        match look(plan, dir, entry.name(), stamp, known, folder, sweep) {
            Some(seen) => out.seen.push(seen),
            None => out.unchanged += 1,
        }
        out.count += 1;
        if known.is_none() {
            out.listed
                .unknown
                .insert(dir.join(entry.name()).into_os_string());
        }
    }
    in_path_order(&mut out.seen[first..]);
    let files = out.count - listed_before;
    // A folder of open notes stands for its next listing only if every
    // file in it was known: then stat'ing the known ones by name looks
    // at every file (`Done/`'s unknown files wait for their events).
    // One that could not be opened showed nothing to stand for.
    let all_known = folder == Some(Folder::Done) || known_listed == files;
    let all_known = all_known && listing.is_some();
    out.folders.extend(
        folder_stamp
            .filter(|_| all_known)
            .map(|(stamp, at)| (dir.to_path_buf(), FolderSeen { stamp, at, files })),
    );
    // Only a folder where fewer known files were listed than are known
    // has stale ones.
    if let Some(here) = here.filter(|h| known_listed < h.len()) {
        out.stale.extend(stale_in(dir, here));
    }
    Some(())
}

/// Only what is looked at needs an order (byte order of the paths:
/// `Path`'s own compares component by component, slower).
fn in_path_order(seen: &mut [Seen]) {
    seen.sort_unstable_by(|a, b| {
        a.path()
            .as_os_str()
            .as_bytes()
            .cmp(b.path().as_os_str().as_bytes())
    });
}

/// The known files of `dir` that are gone (asked only when the listing
/// showed fewer of them than are known).
fn stale_in(dir: &Path, here: &HashMap<OsString, Known>) -> Vec<PathBuf> {
    here.keys()
        .map(|n| dir.join(n))
        .filter(|p| std::fs::symlink_metadata(p).is_err())
        .collect()
}

enum Unchanged {
    /// A folder as it was at its last listing: not listed.
    Yes,
    /// Listed; with the folder's stamp to remember.
    No(Option<(Stamp, SystemTime)>),
}

/// Whether a periodic reconcile can skip listing a folder of notes: its
/// own stamp (device, inode, size, modification and change times) is the
/// one of its last full listing, taken more than a tick after its change,
/// so no file was added, removed or renamed in it (each changes the
/// folder's change time, which no one can set back). For a folder of open
/// notes, the engine must also know exactly as many files there as that
/// listing showed, all known: its known files are then all its files,
/// each `stat`ed by name ([`stat_unlisted`]). Not the inbox: always listed.
fn folder_unchanged(plan: &Plan, dir: &Path, folder: Option<Folder>) -> Unchanged {
    if folder.is_none() {
        return Unchanged::No(None);
    }
    let at = SystemTime::now();
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) if !m.file_type().is_symlink() => m,
        // A symlinked folder's own stamp says nothing of its target's files.
        _ => return Unchanged::No(None),
    };
    let stamp = Stamp::of(&meta);
    let known_here = plan.known.get(dir.as_os_str()).map_or(0, |h| h.len());
    let same = plan.folders.get(dir).is_some_and(|seen| {
        seen.stamp == stamp
            && seen.stamp.settled_at(seen.at)
            && (folder == Some(Folder::Done) || seen.files == known_here)
    });
    if same && plan.scope == Scope::Periodic {
        Unchanged::Yes
    } else {
        Unchanged::No(Some((stamp, at)))
    }
}

/// `None`: not read, its stamp is the one last seen (`stamp` gives the
/// file's stamp now, asked only if it is compared). The path is built
/// only for what is returned.
fn look(
    plan: &Plan,
    dir: &Path,
    name: &OsStr,
    stamp: impl FnOnce() -> Option<Stamp>,
    known: Option<&Known>,
    folder: Option<Folder>,
    sweep: Sweep,
) -> Option<Seen> {
    fail::fail_point!("reconcile-scan-file");
    let is_note = classify(&name.to_string_lossy()) == Kind::Note;
    let Some(folder) = folder.filter(|_| is_note) else {
        return Some(Seen::Other(dir.join(name)));
    };
    let vouching = known.filter(|k| k.stamp.settled_at(k.at));
    let in_done = folder == Folder::Done;
    let swept = in_done && sweep.covers(name);
    if !worth_reading(plan.scope, in_done, vouching.is_some()) && !swept {
        return None;
    }
    if let Some(k) = vouching
        && stamp() == Some(k.stamp)
    {
        return None;
    }
    let path = dir.join(name);
    let read = read_note(&plan.vault, &path, plan.cap);
    Some(Seen::Read(path, folder, Box::new(read)))
}

/// The CPU time this thread has used (for the reconcile's log line: wall
/// time on a shared machine says little).
pub(crate) fn thread_cpu() -> std::time::Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Sets the flag when dropped: a scan whose awaiting was abandoned stops.
pub(crate) struct CancelOnDrop(pub Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[path = "scan_dir.rs"]
mod dir;
use dir::Dir;

#[path = "scan_held.rs"]
mod held;
pub(crate) use held::Held;

#[path = "scan_sweep.rs"]
mod sweep;
use sweep::{Sweep, stat_unlisted, sweep_unlisted};

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
