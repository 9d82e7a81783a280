//! Delivery: its own task, fed by a bounded queue the engine never waits on
//! ([`Notifier::notify`] drops and reports when full). Each channel has its
//! own task and queue, so a slow SMTP server delays only email; each message
//! is tried up to the channel's `max_attempts` with exponential backoff.
//! Pending notices beyond `digest_after` within `digest_window` wait and go
//! out as one digest at the window's end. Every delivery and every final
//! failure comes back as an [`Outcome`] (the engine journals them).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::config::{ChannelConfig, ChannelKind, NotifyConfig};
use super::desktop::{Desktop, DesktopAction, DesktopError};
use super::text::{self, Clock, Text};
use super::{EventKind, Notice, email, webhook};

/// What went to a channel: one notice, or a digest of many.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    One(Box<Notice>),
    Digest(Vec<Notice>),
}

/// How one message fared on one channel, after its last attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub channel: String,
    /// The requests it was about (several for a digest).
    pub ids: Vec<String>,
    /// `None` for a digest or a requester's outcome.
    pub kind: Option<EventKind>,
    /// What it was, as journaled: the kind's name, `digest`, or `outcome`
    /// (the requester's `--notify` URL).
    pub event: String,
    pub attempts: u32,
    /// `None`: delivered. `Some`: the last error, secrets never in it.
    pub error: Option<String>,
}

/// Queue sizes and the backoff between attempts.
#[derive(Debug, Clone)]
pub struct Options {
    pub queue: usize,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How many requests a digest lists by name.
    pub digest_top: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            queue: 1024,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            digest_top: 10,
        }
    }
}

/// A channel's way out.
pub enum Transport {
    Email(super::config::EmailConfig),
    Webhook(super::config::WebhookConfig, reqwest::Client),
    Desktop(Desktop),
}

/// Why a send failed, and whether another try may help.
#[derive(Debug)]
pub struct SendError {
    pub message: String,
    pub retryable: bool,
}

impl Transport {
    pub fn new(c: &ChannelConfig, actions: Option<mpsc::UnboundedSender<DesktopAction>>) -> Self {
        match &c.kind {
            ChannelKind::Email(e) => Transport::Email(e.clone()),
            ChannelKind::Webhook(w) => Transport::Webhook(w.clone(), webhook::client()),
            ChannelKind::Desktop => Transport::Desktop(Desktop::new(&c.name, actions)),
        }
    }

    /// Renders the message for this channel (clock now) and sends it once.
    pub async fn send(&self, msg: &Message, top: usize) -> Result<(), SendError> {
        let clock = Clock::system();
        let fail = |message: String| SendError {
            message,
            retryable: true,
        };
        match self {
            Transport::Email(cfg) => {
                let t = render(msg, &clock, email::PAYLOAD_LIMIT, top);
                email::send(cfg, &t).await.map_err(|e| fail(e.to_string()))
            }
            Transport::Webhook(cfg, client) => {
                let t = render(msg, &clock, webhook::PAYLOAD_LIMIT, top);
                let n = match msg {
                    Message::One(n) => Some(n.as_ref()),
                    Message::Digest(_) => None,
                };
                webhook::send(client, cfg, &t, n)
                    .await
                    .map_err(|e| fail(e.to_string()))
            }
            Transport::Desktop(d) => {
                let t = render(msg, &clock, super::desktop::PAYLOAD_LIMIT, top);
                d.send(&t).await.map_err(|e: DesktopError| SendError {
                    retryable: e.retryable(),
                    message: e.to_string(),
                })
            }
        }
    }
}

/// Sends `msg` once on the channel `c`, directly (no queue, no retry, no
/// journal), for a caller that must know at once (e.g. approval codes).
pub async fn send_once(c: &ChannelConfig, msg: &Message) -> Result<(), SendError> {
    Transport::new(c, None)
        .send(msg, Options::default().digest_top)
        .await
}

fn render(msg: &Message, clock: &Clock, limit: usize, top: usize) -> Text {
    match msg {
        Message::One(n) => text::notice(n, clock, limit),
        Message::Digest(ns) => text::digest(ns, clock, top),
    }
}

/// Sends with retries; returns the attempts made and the last error.
pub async fn deliver(
    t: &Transport,
    msg: &Message,
    max_attempts: u32,
    opts: &Options,
) -> (u32, Option<String>) {
    with_retries(max_attempts, opts, || t.send(msg, opts.digest_top)).await
}

/// Tries `send` up to `max_attempts` times, backing off exponentially
/// between tries; returns the attempts made and the last error.
pub async fn with_retries<F, Fut>(
    max_attempts: u32,
    opts: &Options,
    mut send: F,
) -> (u32, Option<String>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), SendError>>,
{
    let mut wait = opts.first_backoff;
    for attempt in 1..=max_attempts {
        match send().await {
            Ok(()) => return (attempt, None),
            Err(e) if !e.retryable || attempt == max_attempts => {
                return (attempt, Some(e.message));
            }
            Err(e) => {
                tracing::info!(attempt, error = %e.message, retry_in = ?wait, "notification failed, will retry");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(opts.max_backoff);
            }
        }
    }
    (max_attempts, Some("no attempt made".into()))
}

/// What the engine hands to the delivery task.
#[derive(Debug, Clone)]
pub enum Job {
    /// A notice for the channels that want it.
    Notice(Box<Notice>),
    /// A settled request's outcome, POSTed as JSON to the URL its requester
    /// gave (`hitl request --notify URL`).
    Requester {
        id: String,
        url: String,
        body: serde_json::Value,
    },
}

/// How many times a requester's URL is tried.
pub const REQUESTER_ATTEMPTS: u32 = 3;

/// How many requesters' URLs are POSTed to at once. The rest wait without a
/// socket, so URLs that never answer can't take the daemon's open files.
pub const REQUESTER_CONCURRENCY: usize = 8;

/// The engine's handle: never waits.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Job>,
}

impl Notifier {
    /// Queues a notice; `false` (and a warning) when the queue is full.
    pub fn notify(&self, n: Notice) -> bool {
        self.queue(Job::Notice(Box::new(n)))
    }

    /// Queues a job; `false` (and a warning) when the queue is full.
    pub fn queue(&self, job: Job) -> bool {
        match self.tx.try_send(job) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "notification queue full or closed: notice dropped");
                false
            }
        }
    }
}

/// Starts the delivery tasks; outcomes arrive on the returned receiver.
pub fn start(
    config: &NotifyConfig,
    opts: Options,
    actions: Option<mpsc::UnboundedSender<DesktopAction>>,
) -> (Notifier, mpsc::Receiver<Outcome>) {
    let (out_tx, out_rx) = mpsc::channel(opts.queue);
    (start_with(config, opts, actions, out_tx), out_rx)
}

/// [`start`], sending outcomes to `out_tx` (kept across config reloads:
/// the old tasks finish what they hold and report there too).
pub fn start_with(
    config: &NotifyConfig,
    opts: Options,
    actions: Option<mpsc::UnboundedSender<DesktopAction>>,
    out_tx: mpsc::Sender<Outcome>,
) -> Notifier {
    let (tx, mut rx) = mpsc::channel::<Job>(opts.queue);
    let mut lanes = Vec::new();
    for c in &config.channels {
        let (ltx, lrx) = mpsc::channel(opts.queue);
        let t = Transport::new(c, actions.clone());
        tokio::spawn(channel_task(
            c.clone(),
            t,
            lrx,
            out_tx.clone(),
            opts.clone(),
        ));
        lanes.push((c.clone(), ltx));
    }
    // Built at the first `--notify` outcome, not at start: a client means
    // rustls and its root store (code pages and heap) in a daemon that may
    // never post one (docs/perf-memory.md).
    let mut client: Option<reqwest::Client> = None;
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(REQUESTER_CONCURRENCY));
    tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            match job {
                Job::Notice(n) => dispatch(&lanes, *n, &out_tx),
                Job::Requester { id, url, body } => {
                    let client = client.get_or_insert_with(webhook::requester_client).clone();
                    let (out, opts) = (out_tx.clone(), opts.clone());
                    let slots = slots.clone();
                    tokio::spawn(async move {
                        // Never closed: a permit always comes.
                        let _slot = slots.acquire_owned().await;
                        tell_requester(client, id, url, body, out, opts).await;
                    });
                }
            }
        }
    });
    Notifier { tx }
}

/// Hands a notice to each channel that routes it; a full channel queue is
/// reported as a failure with no attempt.
fn dispatch(
    lanes: &[(ChannelConfig, mpsc::Sender<Notice>)],
    n: Notice,
    out: &mpsc::Sender<Outcome>,
) {
    for (c, lane) in lanes {
        if c.routes(&n) && lane.try_send(n.clone()).is_err() {
            let _ = out.try_send(outcome(
                &c.name,
                &Message::One(Box::new(n.clone())),
                0,
                Some("channel queue full".into()),
            ));
        }
    }
}

/// POSTs a settled request's outcome to its requester's URL, with retries.
async fn tell_requester(
    client: reqwest::Client,
    id: String,
    url: String,
    body: serde_json::Value,
    out: mpsc::Sender<Outcome>,
    opts: Options,
) {
    let (attempts, error) = with_retries(REQUESTER_ATTEMPTS, &opts, || {
        webhook::post_json(&client, &url, &body)
    })
    .await;
    match &error {
        None => tracing::info!(request = %id, attempts, "requester told the outcome"),
        Some(e) => {
            tracing::warn!(request = %id, attempts, error = %e, "telling the requester failed")
        }
    }
    let _ = out
        .send(Outcome {
            channel: "requester".into(),
            ids: vec![id],
            kind: None,
            event: "outcome".into(),
            attempts,
            error,
        })
        .await;
}

fn outcome(channel: &str, msg: &Message, attempts: u32, error: Option<String>) -> Outcome {
    let (ids, kind) = match msg {
        Message::One(n) => (vec![n.id.clone()], Some(n.kind)),
        Message::Digest(ns) => (ns.iter().map(|n| n.id.clone()).collect(), None),
    };
    Outcome {
        channel: channel.to_string(),
        ids,
        kind,
        event: kind.map_or("digest", EventKind::as_str).to_string(),
        attempts,
        error,
    }
}

async fn channel_task(
    c: ChannelConfig,
    t: Transport,
    mut rx: mpsc::Receiver<Notice>,
    out: mpsc::Sender<Outcome>,
    opts: Options,
) {
    let mut window_end: Option<Instant> = None;
    let mut in_window = 0usize;
    let mut held: Vec<Notice> = Vec::new();
    loop {
        let wake = async {
            match window_end {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let msg = tokio::select! {
            n = rx.recv() => match n {
                None => break,
                Some(n) if n.kind == EventKind::Pending => {
                    let now = Instant::now();
                    if window_end.is_none_or(|at| now >= at) {
                        window_end = Some(now + c.digest_window);
                        in_window = 0;
                    }
                    in_window += 1;
                    if in_window > c.digest_after {
                        held.push(n);
                        continue;
                    }
                    Message::One(Box::new(n))
                }
                Some(n) => Message::One(Box::new(n)),
            },
            () = wake => {
                window_end = None;
                if held.is_empty() { continue; }
                Message::Digest(std::mem::take(&mut held))
            }
        };
        send_and_report(&c, &t, &msg, &out, &opts).await;
    }
    if !held.is_empty() {
        send_and_report(&c, &t, &Message::Digest(held), &out, &opts).await;
    }
}

async fn send_and_report(
    c: &ChannelConfig,
    t: &Transport,
    msg: &Message,
    out: &mpsc::Sender<Outcome>,
    opts: &Options,
) {
    let (attempts, error) = deliver(t, msg, c.max_attempts, opts).await;
    match &error {
        None => tracing::info!(channel = %c.name, attempts, "notified"),
        Some(e) => tracing::warn!(channel = %c.name, attempts, error = %e, "notification failed"),
    }
    let _ = out.send(outcome(&c.name, msg, attempts, error)).await;
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
