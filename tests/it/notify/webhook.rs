//! Webhooks against a local HTTP server the test runs: ntfy's headers and
//! body, the JSON body, HTTP and connection errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use super::{TOKEN, free_port, no_secret, notify_test};

/// Serves one HTTP request, answering `status`; sends the raw request back.
fn http_once(status: u16) -> (u16, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            head.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let len = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            })
            .unwrap_or(0);
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let _ = write!(
            s,
            "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = tx.send(head + &String::from_utf8_lossy(&body));
    });
    (port, rx)
}

#[test]
fn ntfy_webhook_sends_title_priority_tags_view_action_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let (port, rx) = http_once(200);
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!("notify:\n  - name: phone\n    kind: webhook\n    url: http://127.0.0.1:{port}/approvals\n    flavor: ntfy\n    token_env: HITL_TEST_TOKEN\n"),
    )
    .unwrap();
    let (code, stdout, stderr) = notify_test(&config, &["phone"], &[]);
    assert_eq!((code, stdout.as_str()), (0, "phone: ok\n"), "{stderr}");
    no_secret(&[&stdout, &stderr]);
    let req = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let lower = req.to_ascii_lowercase();
    assert!(req.starts_with("POST /approvals HTTP/1.1\r\n"), "{req}");
    for h in [
        "title: approval needed: hitl.test (low risk): a test notification from hitl\r\n",
        "priority: 3\r\n",
        "tags: hitl,information_source\r\n",
        "actions: view, open note, obsidian://open?vault=vault&file=test, clear=true\r\n",
        &format!("authorization: bearer {}\r\n", TOKEN.to_ascii_lowercase()),
    ] {
        assert!(lower.contains(h), "no `{h}` in {req}");
    }
    assert!(req.contains("\r\n\r\nAction: hitl.test\n"), "{req}");
    assert!(req.contains("Reject: hitl reject test\n"), "{req}");
}

#[test]
fn json_webhook_posts_the_request_and_reports_http_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    let write = |port: u16| {
        std::fs::write(&config, format!("notify:\n  - name: hook\n    kind: webhook\n    url: http://127.0.0.1:{port}/h?token=abc\n")).unwrap();
    };
    let (port, rx) = http_once(200);
    write(port);
    let (code, stdout, stderr) = notify_test(&config, &[], &[]);
    assert_eq!((code, stdout.as_str()), (0, "hook: ok\n"), "{stderr}");
    let req = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        req.to_ascii_lowercase()
            .contains("content-type: application/json\r\n"),
        "{req}"
    );
    let body: serde_json::Value =
        serde_json::from_str(req.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["event"], "pending");
    assert_eq!(body["request"]["id"], "test");
    assert_eq!(body["request"]["approve"], "hitl approve test");
    assert_eq!(body["link"], "obsidian://open?vault=vault&file=test");

    let (port, _rx) = http_once(503);
    write(port);
    let (code, stdout, _) = notify_test(&config, &[], &[]);
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(
        stdout,
        format!("hook: error: POST http://127.0.0.1:{port}/h: HTTP 503\n")
    );
}

#[test]
fn webhook_to_a_closed_port_prints_the_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    let port = free_port();
    std::fs::write(
        &config,
        format!("notify:\n  - {{ name: hook, kind: webhook, url: 'http://127.0.0.1:{port}/' }}\n"),
    )
    .unwrap();
    let (code, stdout, _) = notify_test(&config, &[], &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.starts_with("hook: error: POST http://127.0.0.1"),
        "{stdout}"
    );
    assert!(stdout.to_lowercase().contains("connect"), "{stdout}");
}
