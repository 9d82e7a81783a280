//! A local HTTP server that records what the daemon POSTs, and the
//! journal's delivery events, for the notification tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::util::{Env, wait_for_some};

/// One HTTP request a hook received: its head and body.
#[derive(Debug, Clone)]
pub struct Hit {
    pub head: String,
    pub body: String,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<String> {
        let want = format!("{}: ", name.to_ascii_lowercase());
        self.head.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with(&want)
                .then(|| l[want.len()..].trim().to_string())
        })
    }
}

/// A local HTTP server answering every request with `status`, recording
/// each; its URL.
pub fn hook(status: u16) -> (String, Arc<Mutex<Vec<Hit>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let hits = Arc::new(Mutex::new(Vec::new()));
    let seen = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let len = Hit {
                head: head.clone(),
                body: String::new(),
            }
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let body = String::from_utf8_lossy(&body).into_owned();
            seen.lock().unwrap().push(Hit { head, body });
        }
    });
    (url, hits)
}

pub fn ntfy(name: &str, url: &str, extra: &str) -> String {
    format!("  - name: {name}\n    kind: webhook\n    url: {url}/t\n    flavor: ntfy\n{extra}")
}

/// The journal's notification events for `id` (`notified`, ...).
pub fn deliveries(env: &Env, id: &str, kind: &str) -> Vec<Value> {
    env.journal()
        .into_iter()
        .filter(|e| e["request"] == id && e["event"] == kind)
        .map(|e| e["details"].clone())
        .collect()
}

pub fn wait_hit(hits: &Arc<Mutex<Vec<Hit>>>, f: impl Fn(&Hit) -> bool) -> Hit {
    wait_for_some("a matching HTTP request", || {
        hits.lock().unwrap().iter().find(|h| f(h)).cloned()
    })
}
