//! The file watcher: notify's raw inotify watcher on the vault folders
//! (non-recursive), bridged into tokio without ever blocking notify's
//! thread, plus our own per-path settling.
//!
//! Settling: a path is reported after a short quiet period, or at once on
//! close-after-write or rename-to (the file is complete then). Events are
//! hints: the engine always re-reads the file. When the bridge overflows or
//! notify reports an error or a rescan, a [`WatchEvent::Rescan`] asks for a
//! full reconcile instead.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// Something happened at this path: re-read it.
    Path(PathBuf),
    /// Events may have been lost: re-read everything.
    Rescan,
}

/// Keeps the watch alive; dropping it stops watching.
pub struct WatchHandle {
    _watcher: notify::INotifyWatcher,
}

const BRIDGE_CAPACITY: usize = 8192;

pub fn spawn(
    dirs: &[PathBuf],
    settle: Duration,
    out: mpsc::Sender<WatchEvent>,
) -> notify::Result<WatchHandle> {
    let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>(BRIDGE_CAPACITY);
    let overflowed = Arc::new(AtomicBool::new(false));
    let flag = overflowed.clone();
    let mut watcher = notify::INotifyWatcher::new(
        move |res| {
            // Never block notify's thread: drop the event and ask for a rescan.
            if tx.try_send(res).is_err() {
                flag.store(true, Ordering::Relaxed);
            }
        },
        notify::Config::default(),
    )?;
    for dir in dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    tokio::spawn(settle_loop(rx, overflowed, settle, out));
    Ok(WatchHandle { _watcher: watcher })
}

async fn settle_loop(
    mut rx: mpsc::Receiver<notify::Result<notify::Event>>,
    overflowed: Arc<AtomicBool>,
    settle: Duration,
    out: mpsc::Sender<WatchEvent>,
) {
    let mut quiet: HashMap<PathBuf, Instant> = HashMap::new();
    loop {
        let next = quiet.values().min().copied();
        let raw = tokio::select! {
            raw = rx.recv() => match raw {
                Some(raw) => Some(raw),
                None => return,
            },
            _ = sleep_until(next) => None,
        };
        let mut ready = Vec::new();
        match raw {
            Some(Ok(event)) if event.need_rescan() => {
                tracing::warn!("the kernel's file event queue overflowed; reconciling the vault");
                ready.push(WatchEvent::Rescan);
            }
            Some(Ok(event)) if !changes_content(&event.kind) => {}
            Some(Ok(event)) => {
                let complete = is_complete(&event.kind);
                for path in event.paths {
                    tracing::trace!(path = %path.display(), kind = ?event.kind, "file event");
                    if complete {
                        quiet.remove(&path);
                        ready.push(WatchEvent::Path(path));
                    } else {
                        quiet.insert(path, Instant::now() + settle);
                    }
                }
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "file watcher error; reconciling the vault");
                ready.push(WatchEvent::Rescan);
            }
            None => {
                let now = Instant::now();
                quiet.retain(|path, due| {
                    let keep = *due > now;
                    if !keep {
                        ready.push(WatchEvent::Path(path.clone()));
                    }
                    keep
                });
            }
        }
        if overflowed.swap(false, Ordering::Relaxed) {
            tracing::warn!("file events overflowed; reconciling the vault");
            ready.push(WatchEvent::Rescan);
        }
        for ev in ready {
            if out.send(ev).await.is_err() {
                return;
            }
        }
    }
}

/// Whether an event can mean a change. Opening, reading and closing without
/// writing (the daemon's own reads among them) and access-time updates can't:
/// reacting to them would make every read trigger another.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    }
}

/// Events after which the file is complete and can be read at once.
fn is_complete(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(_))
            | EventKind::Remove(_)
    ) && !matches!(kind, EventKind::Modify(ModifyKind::Name(RenameMode::Any)))
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
    use notify::event::{CreateKind, DataChange};

    #[test]
    fn reads_are_not_changes() {
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert!(!changes_content(&read));
        assert!(!changes_content(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        let atime = EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime));
        assert!(!changes_content(&atime));
        let write = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert!(changes_content(&write) && is_complete(&write));
        let data = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(changes_content(&data) && !is_complete(&data));
        assert!(changes_content(&EventKind::Create(CreateKind::File)));
        assert!(is_complete(&EventKind::Modify(ModifyKind::Name(
            RenameMode::To
        ))));
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
