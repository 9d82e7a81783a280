//! The audit anchor's schedule (`audit_anchor:`, see [`crate::notify::anchor`]).
//!
//! A task of its own sleeps until an anchor is due (`every` after the last
//! one sent, at once if none was or it is overdue), asks the engine for the
//! journal's head, sends it, and hands the outcome back for the engine to
//! journal as an `anchored` event. The engine never waits on it: the task
//! only asks when due, and the engine answers from memory. The sent head is
//! the journal's last line before the `anchored` event that records it.
//! A failed send is journaled too (its `error`), and tried again after a
//! backoff (a minute, doubling up to an hour, never longer than `every`).
//! When the last anchor went out is read back from the journal's tail at
//! start, so a restart neither skips nor repeats one.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use super::{Clock, DaemonError, Engine};
use crate::machine::Step;
use crate::notify::anchor::{self, AnchorConfig, Head};
use crate::notify::config::ChannelConfig;
use crate::request::{Actor, Event, EventKind, JOURNAL_EVENTS};

/// What the anchor task tells the engine.
pub(super) enum AnchorMsg {
    /// An anchor is due: the journal's head, please (`None`: it is empty).
    Due(oneshot::Sender<Option<Head>>),
    /// How sending `head` went, to journal.
    Sent {
        head: Head,
        channel: String,
        error: Option<String>,
    },
}

/// Starts the anchor task if `audit_anchor:` is set; its messages come on
/// the returned receiver. A config change takes effect at restart.
pub(super) fn start(engine: &Engine) -> Option<mpsc::Receiver<AnchorMsg>> {
    let config = engine.machine.config();
    let cfg = config.audit_anchor.clone()?;
    let channel = config
        .notify
        .channels
        .iter()
        .find(|c| c.name == cfg.channel)?
        .clone();
    let (tx, rx) = mpsc::channel(4);
    let journal = engine.state_dir.join("journal.jsonl");
    tokio::spawn(run(cfg, channel, journal, engine.clock.clone(), tx));
    Some(rx)
}

async fn run(
    cfg: AnchorConfig,
    channel: ChannelConfig,
    journal: PathBuf,
    clock: Clock,
    tx: mpsc::Sender<AnchorMsg>,
) {
    let mut last = tokio::task::spawn_blocking(move || last_anchor(&journal))
        .await
        .ok()
        .flatten();
    let first_retry = cfg.every.min(Duration::from_secs(60));
    let mut retry = first_retry;
    loop {
        if let Some(t) = last {
            let due = t + cfg.every;
            tracing::info!(last = %t, %due, "next journal anchor due");
            sleep_until(&clock, due).await;
        }
        let (reply, head) = oneshot::channel();
        if tx.send(AnchorMsg::Due(reply)).await.is_err() {
            return;
        }
        let Ok(head) = head.await else { return };
        let Some(head) = head else {
            tokio::time::sleep(first_retry).await;
            continue;
        };
        let error = anchor::send_once(&channel, &head).await.err();
        let sent = error.is_none();
        let channel = channel.name.clone();
        if tx
            .send(AnchorMsg::Sent {
                head,
                channel,
                error,
            })
            .await
            .is_err()
        {
            return;
        }
        if sent {
            last = Some(clock.now());
            retry = first_retry;
        } else {
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(cfg.every.min(Duration::from_secs(3600)));
        }
    }
}

/// Sleeps until the clock reaches `at`, however the wall clock moves.
async fn sleep_until(clock: &Clock, at: Timestamp) {
    while clock.now() < at {
        clock.sleep_until(at, Duration::from_secs(60)).await;
    }
}

impl Engine {
    pub(super) fn on_anchor(&mut self, msg: AnchorMsg) -> Result<(), DaemonError> {
        match msg {
            AnchorMsg::Due(reply) => {
                let (seq, mac) = self.journal.head();
                let head = (seq > 0).then(|| Head {
                    seq,
                    mac: mac.to_string(),
                });
                let _ = reply.send(head);
                Ok(())
            }
            AnchorMsg::Sent {
                head,
                channel,
                error,
            } => {
                match &error {
                    None => {
                        tracing::info!(seq = head.seq, mac = %head.mac, %channel, "journal anchor sent")
                    }
                    Some(e) => {
                        tracing::warn!(seq = head.seq, %channel, error = %e, "journal anchor not sent, will retry")
                    }
                }
                let event = Event {
                    time: self.clock.now(),
                    request: JOURNAL_EVENTS.into(),
                    actor: Actor::Hitl,
                    kind: EventKind::Anchored {
                        seq: head.seq,
                        mac: head.mac,
                        channel,
                        error,
                    },
                };
                let step = Step {
                    events: vec![event],
                    effects: Vec::new(),
                    reply: None,
                };
                self.commit(vec![step], Vec::new())
            }
        }
    }
}

/// How far back from the journal's end to look for the last anchor before
/// giving up (an anchor is then sent at once: one early anchor, no harm).
const TAIL_LIMIT: u64 = 64 << 20;

/// When the last anchor was sent, from the journal's tail: the time of the
/// last `anchored` event without an error.
fn last_anchor(journal: &Path) -> Option<Timestamp> {
    let mut file = std::fs::File::open(journal).ok()?;
    let len = file.metadata().ok()?.len();
    let mut end = len;
    let mut carry: Vec<u8> = Vec::new();
    const CHUNK: u64 = 1 << 16;
    while end > 0 && len - end < TAIL_LIMIT {
        let start = end.saturating_sub(CHUNK);
        let mut buf = vec![0; (end - start) as usize];
        file.seek(SeekFrom::Start(start)).ok()?;
        file.read_exact(&mut buf).ok()?;
        buf.extend_from_slice(&carry);
        // The part before the first newline may be a cut line: kept for
        // the next chunk, unless this is the file's start.
        let cut = if start == 0 {
            0
        } else {
            buf.iter()
                .position(|b| *b == b'\n')
                .map_or(buf.len(), |i| i + 1)
        };
        if let Some(t) = buf[cut..]
            .split(|b| *b == b'\n')
            .rev()
            .find_map(anchored_at)
        {
            return Some(t);
        }
        carry = buf[..cut].to_vec();
        end = start;
    }
    None
}

/// The time of a journal line that records an anchor sent.
fn anchored_at(line: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(line).ok()?;
    if !text.contains(r#""event":"anchored""#) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v["request"] != JOURNAL_EVENTS || !v["details"]["error"].is_null() {
        return None;
    }
    v["time"].as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(time: &str, error: Option<&str>) -> String {
        let details = match error {
            None => r#"{"seq":1,"mac":"ab","channel":"c"}"#.to_string(),
            Some(e) => format!(r#"{{"seq":1,"mac":"ab","channel":"c","error":"{e}"}}"#),
        };
        format!(
            r#"{{"seq":2,"time":"{time}","request":"journal","actor":"hitl","event":"anchored","details":{details},"prev":"x","hash":"y"}}"#
        )
    }

    #[test]
    fn the_last_anchor_sent_is_found_past_failed_ones_and_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let filler = format!(r#"{{"event":"submitted","pad":"{}"}}"#, "z".repeat(200_000));
        let text = [
            line("2026-01-01T00:00:00Z", None),
            filler.clone(),
            line("2026-01-02T00:00:00Z", None),
            filler,
            line("2026-01-03T00:00:00Z", Some("HTTP 500")),
        ]
        .join("\n")
            + "\n";
        std::fs::write(&path, text).unwrap();
        assert_eq!(
            last_anchor(&path),
            Some("2026-01-02T00:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn no_anchor_yet_means_due_now() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, format!("{}\n", r#"{"event":"submitted"}"#)).unwrap();
        assert_eq!(last_anchor(&path), None);
        assert_eq!(last_anchor(&dir.path().join("missing")), None);
    }
}
