//! The daemon's end of the CLI socket: one JSON command line in, one reply
//! line out, only from the daemon's own user.

use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

use super::CommandMsg;
use crate::ipc::{Command, Reply};

pub(super) async fn serve(listener: UnixListener, tx: mpsc::Sender<CommandMsg>) {
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == me => {}
            other => {
                tracing::warn!(peer = ?other, "socket connection from another user refused");
                continue;
            }
        }
        let tx = tx.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).read_line(&mut line).await.is_err() {
                return;
            }
            let reply = match serde_json::from_str::<Command>(&line) {
                Err(e) => Reply::error(format!("bad command: {e}")),
                Ok(cmd) => {
                    let (reply_tx, reply_rx) = oneshot::channel();
                    if tx.send((cmd, reply_tx)).await.is_err() {
                        return;
                    }
                    match reply_rx.await {
                        Ok(r) => r,
                        Err(_) => Reply::error("the daemon is shutting down"),
                    }
                }
            };
            let mut out = serde_json::to_string(&reply).expect("replies serialise");
            out.push('\n');
            let _ = write.write_all(out.as_bytes()).await;
        });
    }
}
