//! The file watcher: raw inotify on the vault folders (non-recursive), read
//! by a tokio task, plus our own per-path settling and coalescing.
//!
//! Settling: a path is reported after a short quiet period, or at once on
//! close-after-write or rename-to (the file is complete then). Events are
//! hints: the engine always re-reads the file. Coalescing: a path already
//! waiting to be reported is not queued again, so a burst of writes (the
//! daemon's own rewrites among them) costs one report per file, and the
//! kernel's queue is drained even while the engine is busy. When the queue
//! overflows anyway, a [`WatchEvent::Rescan`] asks for a full reconcile.

mod inotify;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use inotify::{Inotify, Raw};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// Something happened at this path: re-read it.
    Path(PathBuf),
    /// Events may have been lost: re-read everything.
    Rescan,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {error}")]
pub struct WatchError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// Keeps the watch alive; dropping it stops watching.
pub struct WatchHandle {
    task: AbortHandle,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Paths waiting for the engine beyond this many: report a rescan instead.
const MAX_READY: usize = 200_000;

pub fn spawn(
    dirs: &[PathBuf],
    settle: Duration,
    out: mpsc::Sender<WatchEvent>,
) -> Result<WatchHandle, WatchError> {
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |error| WatchError { path, error }
    };
    let first = dirs.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
    let mut ino = Inotify::new().map_err(failed(first))?;
    for dir in dirs {
        ino.watch(dir).map_err(failed(dir))?;
    }
    // SAFETY: `Inotify` owns its descriptor and never replaces or closes it
    // while the `AsyncFd` holds it.
    let fd = unsafe { AsyncFd::register(ino) }.map_err(|e| failed(first)(e.into_parts().1))?;
    let task = tokio::spawn(settle_loop(fd, settle, out)).abort_handle();
    Ok(WatchHandle { task })
}

/// Paths complete or settled, each once, in the order they became so.
#[derive(Default)]
struct Ready {
    order: VecDeque<PathBuf>,
    queued: HashSet<PathBuf>,
    rescan: bool,
}

impl Ready {
    fn push(&mut self, path: PathBuf) {
        if self.rescan {
            return; // the rescan reads everything
        }
        if self.queued.insert(path.clone()) {
            self.order.push_back(path);
        }
        if self.order.len() > MAX_READY {
            self.overflow();
        }
    }

    fn overflow(&mut self) {
        self.rescan = true;
        self.order.clear();
        self.queued.clear();
    }

    fn next(&mut self) -> Option<WatchEvent> {
        if std::mem::take(&mut self.rescan) {
            return Some(WatchEvent::Rescan);
        }
        let path = self.order.pop_front()?;
        self.queued.remove(&path);
        Some(WatchEvent::Path(path))
    }

    fn is_empty(&self) -> bool {
        !self.rescan && self.order.is_empty()
    }
}

async fn settle_loop(mut fd: AsyncFd<Inotify>, settle: Duration, out: mpsc::Sender<WatchEvent>) {
    let mut quiet: HashMap<PathBuf, Instant> = HashMap::new();
    let mut ready = Ready::default();
    let mut raw = Vec::new();
    loop {
        let next = quiet.values().min().copied();
        tokio::select! {
            biased;
            permit = out.reserve(), if !ready.is_empty() => {
                let Ok(permit) = permit else { return };
                if let Some(ev) = ready.next() {
                    permit.send(ev);
                }
            }
            guard = fd.readable_mut() => {
                let mut guard = match guard {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::warn!(error = %e, "file watcher error; reconciling the vault");
                        ready.overflow();
                        continue;
                    }
                };
                match guard.try_io(|ino| ino.get_mut().read(&mut raw)) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "file watcher error; reconciling the vault");
                        ready.overflow();
                    }
                    Err(_would_block) => continue,
                }
                for ev in raw.drain(..) {
                    take(ev, &mut quiet, &mut ready, settle);
                }
            }
            _ = sleep_until(next) => {
                let now = Instant::now();
                quiet.retain(|path, due| {
                    let keep = *due > now;
                    if !keep {
                        ready.push(path.clone());
                    }
                    keep
                });
            }
        }
    }
}

fn take(ev: Raw, quiet: &mut HashMap<PathBuf, Instant>, ready: &mut Ready, settle: Duration) {
    fail::fail_point!("watcher-drop-events", |_| ());
    match ev {
        Raw::Overflow => {
            tracing::warn!("the kernel's file event queue overflowed; reconciling the vault");
            ready.overflow();
        }
        Raw::Path { path, .. } if is_own_temp(&path) => {}
        Raw::Path { path, complete } => {
            tracing::trace!(path = %path.display(), complete, "file event");
            if complete {
                quiet.remove(&path);
                ready.push(path);
            } else {
                quiet.insert(path, Instant::now() + settle);
            }
        }
    }
}

/// The daemon's own temp files (`.hitl-*.tmp`, renamed over a note at
/// once): never notes, and a burst of rewrites makes one per note.
fn is_own_temp(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| n.starts_with(".hitl-") && n.ends_with(".tmp"))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemons_own_temp_files_are_not_reported() {
        let (mut quiet, mut ready) = (HashMap::new(), Ready::default());
        let settle = Duration::from_millis(10);
        for name in [".hitl-abc-pay.md.tmp", "pay.md", ".hitl-x.md"] {
            let path = PathBuf::from("/v").join(name);
            take(
                Raw::Path {
                    path,
                    complete: true,
                },
                &mut quiet,
                &mut ready,
                settle,
            );
        }
        assert_eq!(ready.next(), Some(WatchEvent::Path("/v/pay.md".into())));
        assert_eq!(ready.next(), Some(WatchEvent::Path("/v/.hitl-x.md".into())));
        assert!(ready.is_empty());
    }

    #[test]
    fn a_path_is_queued_once_until_it_is_reported() {
        let mut r = Ready::default();
        for _ in 0..3 {
            r.push("a.md".into());
        }
        r.push("b.md".into());
        assert_eq!(r.next(), Some(WatchEvent::Path("a.md".into())));
        r.push("a.md".into());
        assert_eq!(r.next(), Some(WatchEvent::Path("b.md".into())));
        assert_eq!(r.next(), Some(WatchEvent::Path("a.md".into())));
        assert_eq!(r.next(), None);
        r.push("c.md".into());
        r.overflow();
        r.push("d.md".into());
        assert_eq!(r.next(), Some(WatchEvent::Rescan));
        assert!(r.is_empty());
    }

    /// Regression: the daemon's own reads of a note raised open/close
    /// events, which made it read the note again, forever.
    #[tokio::test]
    async fn reading_a_watched_file_raises_no_event() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("note.md");
        std::fs::write(&file, "x").unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let _watch = spawn(&[dir.path().to_path_buf()], Duration::from_millis(10), tx).unwrap();
        for _ in 0..5 {
            let _ = std::fs::read_to_string(&file).unwrap();
            let _ = std::fs::read_dir(dir.path()).unwrap().count();
        }
        // Past the settling time: any event the reads raised is out by now.
        tokio::time::sleep(Duration::from_millis(200)).await;
        std::fs::write(dir.path().join("other.md"), "y").unwrap();
        let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert_eq!(first, Some(WatchEvent::Path(dir.path().join("other.md"))));
    }
}
