//! The daemon's end of the CLI socket: one JSON command line in, one reply
//! line out, only from the daemon's own user, who is named from the peer's
//! credentials.
//!
//! Every resource a caller can hold is bounded. A connection that has not
//! sent its line yet is cheap to open and costs the daemon a file
//! descriptor, so those are capped, and at the cap the oldest is closed to
//! make room: a slowloris can't lock out `hitl status`. All connections
//! together are capped too, as are the line's length and the wait for it.
//! A `hitl wait` legitimately stays open for hours, so waiters hold slots
//! of their own and can't take the connections short commands need. A
//! failing `accept` (out of file descriptors) backs off instead of
//! spinning a core.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedReadHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::ipc::{Caller, Command, MAX_LINE, Reply};

/// A command from the socket, who sent it, and where to answer.
pub(super) type CommandMsg = (Command, Caller, oneshot::Sender<Reply>);

/// Connections that have not sent their line yet.
const MAX_UNREAD: usize = 64;
/// How long a connection may take to send its line.
const FIRST_LINE_WITHIN: Duration = Duration::from_secs(10);
/// The most file descriptors asked for at start.
const WANTED_FDS: u64 = 65_536;

/// `others`: callers of any uid are taken (the socket is shared with a
/// group), each named by its own uid; else only the daemon's own user.
pub(super) async fn serve(listener: UnixListener, tx: mpsc::Sender<CommandMsg>, others: bool) {
    let fds = raise_fd_limit();
    let cap = connection_cap(fds);
    tracing::debug!(fds, connections = cap, unread = MAX_UNREAD, "socket limits");
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    let caller = Caller::from_uid(me);
    let permits = Arc::new(Semaphore::new(cap));
    // Waiters hold slots of their own, so hours-long `hitl wait`s can't
    // take the connections short commands need.
    let waiters = Arc::new(Semaphore::new(cap / 2));
    let mut unread = Unread::default();
    let mut backoff = Backoff::default();
    loop {
        let accepted = tokio::select! {
            Some(n) = unread.line_read.recv() => {
                unread.waiting.remove(&n);
                continue;
            }
            accepted = accept(&listener, &permits) => accepted,
        };
        unread.forget_read();
        let (stream, permit) = match accepted {
            Ok(a) => {
                backoff.succeeded();
                a
            }
            Err(e) => {
                let pause = backoff.failed();
                tracing::warn!(error = %e, pause_ms = pause.as_millis() as u64, "socket accept failed; pausing");
                tokio::time::sleep(pause).await;
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                    // Out of file descriptors: a connection still silent
                    // after the pause gives one back.
                    unread.forget_read();
                    unread.close_oldest();
                }
                continue;
            }
        };
        let caller = match stream.peer_cred() {
            Ok(cred) if cred.uid() == me => caller.clone(),
            Ok(cred) if others => Caller::from_uid(cred.uid()),
            other => {
                tracing::warn!(peer = ?other, "socket connection from another user refused");
                continue;
            }
        };
        if unread.waiting.len() >= MAX_UNREAD {
            unread.close_oldest();
        }
        let (n, close) = unread.add();
        let conn = Connection {
            n,
            caller,
            tx: tx.clone(),
            line_read: unread.line_read_tx.clone(),
            permit: Some(permit),
            waiters: waiters.clone(),
        };
        tokio::spawn(conn.serve(stream, close));
    }
}

/// Connections still sending their line, oldest first, each with a way to
/// close it.
struct Unread {
    waiting: BTreeMap<u64, oneshot::Sender<()>>,
    next: u64,
    /// Connections report here once they have sent their line.
    line_read: mpsc::UnboundedReceiver<u64>,
    line_read_tx: mpsc::UnboundedSender<u64>,
}

impl Default for Unread {
    fn default() -> Unread {
        let (line_read_tx, line_read) = mpsc::unbounded_channel();
        Unread {
            waiting: BTreeMap::new(),
            next: 0,
            line_read,
            line_read_tx,
        }
    }
}

impl Unread {
    fn add(&mut self) -> (u64, oneshot::Receiver<()>) {
        let (close_tx, close) = oneshot::channel();
        let n = self.next;
        self.waiting.insert(n, close_tx);
        self.next += 1;
        (n, close)
    }

    /// Drops the connections that have sent their line since last asked.
    fn forget_read(&mut self) {
        while let Ok(n) = self.line_read.try_recv() {
            self.waiting.remove(&n);
        }
    }

    fn close_oldest(&mut self) {
        if let Some((_, close)) = self.waiting.pop_first() {
            tracing::debug!("too many connections without a command line; closing the oldest");
            let _ = close.send(());
        }
    }
}

/// A permit first, then a connection: at the cap, callers wait in the
/// kernel's backlog rather than in the daemon's memory.
async fn accept(
    listener: &UnixListener,
    permits: &Arc<Semaphore>,
) -> std::io::Result<(UnixStream, OwnedSemaphorePermit)> {
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let (stream, _) = listener.accept().await?;
    Ok((stream, permit))
}

struct Connection {
    n: u64,
    caller: Caller,
    tx: mpsc::Sender<CommandMsg>,
    /// Told when this connection has sent its line (or given up), so it is
    /// no longer a candidate for closing.
    line_read: mpsc::UnboundedSender<u64>,
    /// Held while the connection is open, unless it becomes a waiter.
    permit: Option<OwnedSemaphorePermit>,
    /// The slots for waiters, which give their connection permit back.
    waiters: Arc<Semaphore>,
}

impl Connection {
    async fn serve(mut self, stream: UnixStream, close: oneshot::Receiver<()>) {
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let line = tokio::select! {
            line = tokio::time::timeout(FIRST_LINE_WITHIN, read_line(&mut read)) => line,
            Ok(()) = close => return,
        };
        let _ = self.line_read.send(self.n);
        let reply = match line {
            Err(_) => {
                tracing::debug!("socket connection sent no command in time; closed");
                return;
            }
            Ok(Err(Line::Closed)) => return,
            Ok(Err(Line::TooLong)) => {
                tracing::warn!(max = MAX_LINE, "socket command line too long; refused");
                Reply::error(format!("the command line is longer than {MAX_LINE} bytes"))
            }
            Ok(Ok(line)) => match self.answer(&line, &mut read).await {
                Some(reply) => reply,
                None => return,
            },
        };
        let mut out = serde_json::to_string(&reply).expect("replies serialise");
        out.push('\n');
        let _ = write.write_all(out.as_bytes()).await;
    }

    /// The reply to one line; `None` when the caller hung up first.
    async fn answer(&mut self, line: &[u8], read: &mut BufReader<OwnedReadHalf>) -> Option<Reply> {
        let checked = serde_json::from_slice::<Command>(line)
            .map_err(|e| e.to_string())
            .and_then(|cmd| cmd.validate().map(|()| cmd).map_err(|e| e.to_string()));
        let cmd = match checked {
            Ok(cmd) => cmd,
            Err(e) => {
                tracing::debug!(error = %e, "socket command refused");
                return Some(Reply::error(format!("bad command: {e}")));
            }
        };
        let waits = matches!(cmd, Command::Wait { .. });
        let _wait_slot = if waits {
            let Ok(slot) = self.waiters.clone().try_acquire_owned() else {
                tracing::warn!("too many clients waiting; a wait refused");
                return Some(Reply::error(
                    "too many clients are waiting already; try again later",
                ));
            };
            self.permit = None;
            Some(slot)
        } else {
            None
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        self.tx
            .send((cmd, self.caller.clone(), reply_tx))
            .await
            .ok()?;
        if !waits {
            return Some(reply_rx.await.unwrap_or_else(|_| shutting_down()));
        }
        // A waiter can wait for hours: notice when it hangs up, so its
        // connection doesn't outlive it.
        tokio::select! {
            reply = reply_rx => Some(reply.unwrap_or_else(|_| shutting_down())),
            _ = read.read_u8() => None,
        }
    }
}

fn shutting_down() -> Reply {
    Reply::error("the daemon is shutting down")
}

enum Line {
    Closed,
    TooLong,
}

/// One line of at most [`MAX_LINE`] bytes, without its newline; never
/// buffers more than that.
async fn read_line(read: &mut BufReader<OwnedReadHalf>) -> Result<Vec<u8>, Line> {
    let mut buf = Vec::new();
    let n = (&mut *read)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await
        .map_err(|_| Line::Closed)?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(buf);
    }
    match n {
        0 => Err(Line::Closed),
        n if n > MAX_LINE => Err(Line::TooLong),
        _ => Ok(buf), // the caller closed its end after the line
    }
}

/// Raises the soft limit on open files toward the hard limit (bounded), so
/// the connection caps bind before the process runs out. Returns the limit
/// in force.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    let wanted = lim.rlim_max.min(WANTED_FDS);
    if lim.rlim_cur < wanted {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: a valid rlimit, the soft limit within the hard one.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return wanted;
        }
    }
    lim.rlim_cur
}

/// How many connections may be open at once with `fds` file descriptors:
/// half of what is left after a reserve for the journal, notes, the watcher
/// and handler pipes.
fn connection_cap(fds: u64) -> usize {
    let cap = fds.saturating_sub(256) / 2;
    usize::try_from(cap).unwrap_or(usize::MAX).clamp(16, 8192)
}

/// How long to pause after `accept` fails: doubling from 10 ms to 1 s, back
/// to the start after a success. Running out of file descriptors then costs
/// a wake-up a second, not a spinning core.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn failed(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        pause
    }

    fn succeeded(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { next: Self::FIRST }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_to_a_second_and_recover() {
        let mut b = Backoff::default();
        let pauses: Vec<u128> = (0..10).map(|_| b.failed().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_millis(10));
    }

    #[test]
    fn connection_cap_leaves_room_for_the_daemons_own_files() {
        assert_eq!(connection_cap(0), 16);
        assert_eq!(connection_cap(1024), 384);
        assert_eq!(connection_cap(65_536), 8192);
    }

    #[test]
    fn fd_limit_is_raised_toward_the_hard_limit() {
        let got = raise_fd_limit();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid rlimit to fill in.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, got);
        assert!(got >= lim.rlim_max.min(WANTED_FDS));
    }
}
