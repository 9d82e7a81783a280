//! How the CLI talks to the daemon: one JSON line over a Unix socket in the
//! state folder, one JSON line back. When the daemon is down, requests and
//! decisions are left as files in the state folder's `inbox/`, which the
//! daemon takes at start (the state folder is the user's own, unlike the
//! vault, so its inbox is trusted).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::machine::NewRequest;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    Submit(NewRequest),
    Decide {
        id: String,
        approve: bool,
        reason: Option<String>,
        by: String,
    },
    Cancel {
        id: String,
        by: String,
    },
    Resolve {
        id: String,
        executed: bool,
        reason: String,
        by: String,
    },
    /// Answered once the request is settled (its exit code is known).
    Wait {
        id: String,
    },
    Status,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Value>,
}

impl Reply {
    pub fn error(message: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(message.into()),
            ..Reply::default()
        }
    }
}

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("hitl.sock")
}

pub fn inbox_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("inbox")
}

/// Sends one command and waits for the reply (up to `timeout`, if given).
/// `Err` with `ErrorKind::NotFound`/`ConnectionRefused`: no daemon.
pub fn call(state_dir: &Path, cmd: &Command, timeout: Option<Duration>) -> std::io::Result<Reply> {
    let mut stream = UnixStream::connect(socket_path(state_dir))?;
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

/// Leaves a command in the inbox for the daemon to take at start.
pub fn leave_in_inbox(state_dir: &Path, name: &str, cmd: &Command) -> std::io::Result<PathBuf> {
    let dir = inbox_dir(state_dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string(cmd).expect("commands serialise");
    crate::vault::write_atomic(&path, &text)?;
    Ok(path)
}
