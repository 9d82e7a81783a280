//! The MCP server's link to the daemon: one JSON line over the socket, one
//! line back, like the CLI's, but async and bounded in time, so a tool call
//! never hangs on a daemon that is down or stuck, and a call the client
//! cancels closes its connection (the daemon then forgets the waiter).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::ipc::{self, Command, Reply};
use crate::outcome::RequestOutcome;

/// How long a command that is answered at once may take.
const QUICK: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "the hitl daemon is not running (no socket at {0}); start it with `hitl run` or `systemctl --user start hitl`"
    )]
    Down(PathBuf),
    #[error("the hitl daemon did not answer within {0:?}")]
    NoAnswer(Duration),
    #[error("the hitl daemon closed the connection without an answer (is it stopping?)")]
    Closed,
    #[error("talking to the hitl daemon: {0}")]
    Io(#[from] std::io::Error),
    #[error("the hitl daemon's answer could not be read: {0}")]
    BadAnswer(String),
    #[error("{0}")]
    Refused(String),
    #[error("the hitl daemon's answer names no request")]
    NotARequest,
}

/// A connection the daemon cut (it stopped or was killed mid-call) is
/// [`DaemonError::Closed`], whichever way the cut showed.
fn cut(e: std::io::Error) -> DaemonError {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    match e.kind() {
        BrokenPipe | ConnectionReset | ConnectionAborted => DaemonError::Closed,
        _ => DaemonError::Io(e),
    }
}

/// The daemon at a state folder.
#[derive(Debug, Clone)]
pub struct Daemon {
    state_dir: PathBuf,
}

/// What a bounded wait came to.
#[derive(Debug)]
pub enum Waited {
    /// Settled: the requester can stop waiting.
    Settled(RequestOutcome),
    /// Still open when the wait's time ran out.
    Open(RequestOutcome),
}

impl Daemon {
    pub fn new(state_dir: &Path) -> Daemon {
        Daemon {
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// Sends one command; its answer within `limit`.
    async fn call(&self, cmd: &Command, limit: Duration) -> Result<Reply, DaemonError> {
        cmd.validate()
            .map_err(|e| DaemonError::Refused(e.to_string()))?;
        let socket = ipc::socket_path(&self.state_dir);
        let exchange = async {
            let mut stream = UnixStream::connect(&socket).await.map_err(|e| {
                if ipc::is_down(&e) {
                    DaemonError::Down(socket.clone())
                } else {
                    DaemonError::Io(e)
                }
            })?;
            let mut line = serde_json::to_string(cmd).expect("commands serialise");
            line.push('\n');
            stream.write_all(line.as_bytes()).await.map_err(cut)?;
            let mut answer = String::new();
            BufReader::new(stream.take(ipc::MAX_LINE as u64))
                .read_line(&mut answer)
                .await
                .map_err(cut)?;
            if answer.is_empty() {
                return Err(DaemonError::Closed);
            }
            serde_json::from_str::<Reply>(&answer)
                .map_err(|e| DaemonError::BadAnswer(e.to_string()))
        };
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| DaemonError::NoAnswer(limit))?
    }

    /// The outcome in a reply about a request, or why there is none.
    fn waited(reply: Reply) -> Result<Waited, DaemonError> {
        match reply {
            Reply::Request {
                exit_code,
                outcome: Some(o),
                ..
            } => Ok(match exit_code {
                Some(_) => Waited::Settled(*o),
                None => Waited::Open(*o),
            }),
            Reply::Refused(why) => Err(DaemonError::Refused(why)),
            Reply::Request { outcome: None, .. } | Reply::Status(_) => {
                Err(DaemonError::NotARequest)
            }
        }
    }

    /// Submits a request; its outcome as journaled (settled at once when a
    /// rule denied it or approved it without a handler).
    pub async fn submit(&self, cmd: Command) -> Result<Waited, DaemonError> {
        Self::waited(self.call(&cmd, QUICK).await?)
    }

    /// The request as it stands.
    pub async fn get(&self, id: &str) -> Result<Waited, DaemonError> {
        let cmd = Command::Get { id: id.to_string() };
        Self::waited(self.call(&cmd, QUICK).await?)
    }

    /// Waits up to `limit` for the request to settle; then, if it hasn't,
    /// the request as it stands.
    pub async fn wait(&self, id: &str, limit: Duration) -> Result<Waited, DaemonError> {
        let cmd = Command::Wait { id: id.to_string() };
        match self.call(&cmd, limit).await {
            Ok(reply) => Self::waited(reply),
            Err(DaemonError::NoAnswer(_)) => self.get(id).await,
            Err(e) => Err(e),
        }
    }

    /// Withdraws a request nobody waits for any more.
    pub async fn cancel(&self, id: &str) -> Result<(), DaemonError> {
        let cmd = Command::Cancel {
            id: id.to_string(),
            reason: Some("withdrawn: the MCP client stopped waiting for a decision".into()),
        };
        Self::waited(self.call(&cmd, QUICK).await?).map(|_| ())
    }
}
