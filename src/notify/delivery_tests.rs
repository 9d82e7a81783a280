//! The delivery task against a real local HTTP server: retries with
//! backoff, final failures reported, a storm sent as a digest.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use super::*;
use crate::notify::config::{Flavor, WebhookConfig};
use crate::notify::text;

/// Answers requests with `statuses` in turn (then 200); sends each body.
fn server(statuses: Vec<u16>) -> (String, std_mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for s in l.incoming() {
            let mut s = s.unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length: ") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let status = statuses.next().unwrap_or(200);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = tx.send(String::from_utf8_lossy(&body).to_string());
        }
    });
    (url, rx)
}

fn channel(url: &str, max_attempts: u32, digest_after: usize) -> NotifyConfig {
    NotifyConfig {
        channels: vec![ChannelConfig {
            name: "hook".into(),
            kind: ChannelKind::Webhook(WebhookConfig {
                url: url.into(),
                flavor: Flavor::Json,
                token: None,
            }),
            events: EventKind::ALL.to_vec(),
            min_risk: crate::rules::Risk::Low,
            max_attempts,
            digest_after,
            digest_window: Duration::from_secs(1),
        }],
        reminder_before: Duration::from_secs(600),
        ..NotifyConfig::default()
    }
}

fn fast() -> Options {
    Options {
        first_backoff: Duration::from_millis(10),
        ..Options::default()
    }
}

async fn next(rx: &mut mpsc::Receiver<Outcome>) -> Outcome {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("an outcome within 15 s")
        .expect("the delivery task is running")
}

#[tokio::test]
async fn failed_deliveries_are_retried_then_reported_with_attempts() {
    let (url, _bodies) = server(vec![500, 503]);
    let (notifier, mut out) = start(&channel(&url, 3, 100), fast(), None);
    let (n, _) = text::fixed();
    assert!(notifier.notify(n.clone()));
    let o = next(&mut out).await;
    assert_eq!((o.attempts, o.error), (3, None));
    assert_eq!(o.ids, vec![n.id.clone()]);

    let (url, _bodies) = server(vec![500; 10]);
    let (notifier, mut out) = start(&channel(&url, 2, 100), fast(), None);
    assert!(notifier.notify(n));
    let o = next(&mut out).await;
    assert_eq!(o.attempts, 2);
    assert!(o.error.unwrap().ends_with("HTTP 500"));
}

#[tokio::test]
async fn a_storm_of_pending_requests_becomes_a_digest_after_the_first_few() {
    let (url, bodies) = server(vec![]);
    let (notifier, mut out) = start(&channel(&url, 1, 2), fast(), None);
    let (n, _) = text::fixed();
    for i in 0..50 {
        let mut n = n.clone();
        n.id = format!("req{i:02}");
        n.risk = if i == 30 {
            crate::rules::Risk::High
        } else {
            crate::rules::Risk::Low
        };
        assert!(notifier.notify(n));
    }
    let mut digests = Vec::new();
    let mut singles = 0;
    while singles + digests.iter().map(|o: &Outcome| o.ids.len()).sum::<usize>() < 50 {
        let o = next(&mut out).await;
        assert_eq!(o.error, None);
        match o.kind {
            Some(_) => singles += 1,
            None => digests.push(o),
        }
    }
    assert_eq!((singles, digests.len()), (2, 1));
    let bodies: Vec<String> = (0..3)
        .map(|_| bodies.recv_timeout(Duration::from_secs(15)).unwrap())
        .collect();
    let digest: serde_json::Value = serde_json::from_str(&bodies[2]).unwrap();
    assert_eq!(digest["event"], "digest");
    assert_eq!(digest["title"], "48 new requests");
    let message = digest["message"].as_str().unwrap();
    assert!(message.starts_with("- [high] payment"), "{message}");
}
