//! How the CLI talks to the daemon: one JSON line over a Unix socket in the
//! state folder, one JSON line back. When the daemon is down, requests and
//! decisions are left as files in the state folder's `inbox/`, which the
//! daemon takes at start.
//!
//! Both are edges: [`wire`] is their format, checked before anything in it
//! reaches the engine, and [`identity`] names the caller from the kernel
//! (the socket peer's uid, the inbox file's owner), never from the message.

pub mod identity;
mod reply;
pub mod shared;
pub mod wire;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use identity::Caller;
pub use reply::Reply;
pub use wire::{Command, InboxEntry, Submit};

/// The longest command line the daemon reads; a longer one is refused.
pub const MAX_LINE: usize = 1024 * 1024;
/// The largest inbox file the daemon reads.
pub const MAX_INBOX_FILE: u64 = MAX_LINE as u64;

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("hitl.sock")
}

pub fn inbox_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("inbox")
}

/// Creates (or tightens) a folder only its owner may enter: the state
/// folder holds the socket that approves payments, the inbox its queue.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Sends one command and waits for the reply (up to `timeout`, if given).
/// `Err` with `ErrorKind::NotFound`/`ConnectionRefused`: no daemon.
pub fn call(state_dir: &Path, cmd: &Command, timeout: Option<Duration>) -> std::io::Result<Reply> {
    // A socket shared with the caller's group is beside the state folder,
    // which the caller may not be able to enter.
    let shared = shared::socket_path(state_dir);
    let path = if shared.exists() {
        shared
    } else {
        socket_path(state_dir)
    };
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(timeout)?;
    let mut line = serde_json::to_string(cmd).expect("commands serialise");
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    serde_json::from_str(&reply)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Whether an I/O error means "no daemon is listening".
pub fn is_down(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
    )
}

/// Leaves an entry in the inbox for the daemon to take at start: written
/// 0600 in a 0700 folder, atomically (a temp name the daemon ignores, fsync,
/// rename).
pub fn leave_in_inbox(state_dir: &Path, entry: &InboxEntry) -> std::io::Result<PathBuf> {
    private_dir(state_dir)?;
    let dir = inbox_dir(state_dir);
    private_dir(&dir)?;
    let path = dir.join(format!("{}.json", entry.id));
    let tmp = dir.join(format!(".{}.json.tmp", entry.id));
    let text = serde_json::to_string(entry).expect("inbox entries serialise");
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| path)
}
