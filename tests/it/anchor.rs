//! The audit anchor (issue 10.6): the journal's head sent to a webhook the
//! test runs, equal to what `hitl audit verify` prints; sent again every
//! `every`; and a journal re-chained with the key after an anchor passes the
//! chain check but fails `audit verify --anchor`, naming the line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use crate::util::*;
use hitl::journal::key::{self, Chain};

/// Serves HTTP until the test ends, answering 500 to the first `failing`
/// requests and 200 after; sends back the (seq, mac) of each `audit_anchor`
/// JSON body answered 200 (other notifications are skipped).
fn anchor_server(failing: usize) -> (u16, mpsc::Receiver<(u64, String)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Only anchors count towards `failing`: the channel also carries
        // the requests' own notifications (pending, decided, ...).
        let mut anchors_seen = 0;
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let body = read_request(&mut s);
            let v = serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default();
            let is_anchor = v["event"] == "audit_anchor";
            let ok = !is_anchor || anchors_seen >= failing;
            anchors_seen += usize::from(is_anchor);
            // Told before the answer, so hitl can't have seen a 200 that
            // the test hasn't.
            if ok && is_anchor {
                let anchor = (v["seq"].as_u64().unwrap(), v["mac"].as_str().unwrap());
                let _ = tx.send((anchor.0, anchor.1.to_string()));
            }
            let status = if ok { "200 OK" } else { "500 Oops" };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, rx)
}

fn read_request(s: &mut std::net::TcpStream) -> String {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut len = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length: ") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    let _ = r.read_exact(&mut body);
    String::from_utf8_lossy(&body).into_owned()
}

/// `audit verify`'s head: (seq, mac).
fn verified_head(env: &Env) -> (u64, String) {
    let (code, out, err) = env.hitl(&["audit", "verify", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    (
        v["head"]["seq"].as_u64().unwrap(),
        v["head"]["mac"].as_str().unwrap().to_string(),
    )
}

/// Rewrites the journal's lines with `edit` and re-chains them with the
/// journal key, as an agent that can read `journal.key` could.
fn rechain_with_key(env: &Env, edit: impl Fn(String) -> String) {
    let path = env.state.join("journal.jsonl");
    let k = key::load(&key::key_path(&path)).unwrap().unwrap();
    let chain = Chain::keyed(&k);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for line in text.lines() {
        let line = edit(line.to_string());
        let head = &line[..line.len() - (9 + 64 + 1) - (9 + 64 + 2)];
        let body = format!("{head},\"prev\":\"{prev}\"}}");
        let hash = String::from_utf8(chain.hash(body.as_bytes()).to_vec()).unwrap();
        out.push_str(&format!(
            "{},\"hash\":\"{hash}\"}}\n",
            &body[..body.len() - 1]
        ));
        prev = hash;
    }
    std::fs::write(&path, out).unwrap();
}

#[test]
fn the_anchor_sent_is_the_head_audit_verify_prints_and_pins_it_against_a_rechain() {
    let (port, anchors) = anchor_server(0);
    let mut env = Env::new(&format!(
        "notify:\n  - name: hook\n    kind: webhook\n    url: http://127.0.0.1:{port}/anchor\n"
    ));
    env.start();
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    env.stop();
    let head = verified_head(&env);

    // Anchoring turned on: none sent yet, so one is due right after start.
    env.set_config(&format!(
        "notify:\n  - name: hook\n    kind: webhook\n    url: http://127.0.0.1:{port}/anchor\naudit_anchor: {{ channel: hook, every: 1s }}\n"
    ));
    env.start();
    let first = anchors.recv_timeout(Duration::from_secs(15)).unwrap();
    assert_eq!(
        first, head,
        "the first anchor is the head `audit verify` printed"
    );
    // Its `anchored` record is the next line, and the next anchor a period
    // later names it.
    let second = anchors.recv_timeout(Duration::from_secs(15)).unwrap();
    assert_eq!(second.0, head.0 + 1, "{second:?}");
    wait_for("both anchors journaled", || {
        env.journal()
            .iter()
            .filter(|e| e["event"] == "anchored" && e["details"]["error"].is_null())
            .count()
            >= 2
    });
    env.stop();
    let journal = env.journal();
    let rec = &journal[head.0 as usize];
    assert_eq!(rec["event"], "anchored");
    assert_eq!(rec["request"], "journal");
    assert_eq!(rec["details"]["seq"], head.0);
    assert_eq!(rec["details"]["mac"], head.1.as_str());
    assert_eq!(rec["details"]["channel"], "hook");
    assert_eq!(journal[second.0 as usize - 1]["hash"], second.1.as_str());

    let anchor = format!("{}:{}", first.0, first.1);
    let (code, out, err) = env.hitl(&["audit", "verify", "--anchor", &anchor]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("anchor matches"), "{out}");

    // The payment's amount rewritten and the whole journal re-chained with
    // the key: the chain checks, the anchor doesn't.
    rechain_with_key(&env, |l| l.replace("1500", "15"));
    let (code, out, err) = env.hitl(&["audit", "verify"]);
    assert_eq!(
        code, 0,
        "a re-chain with the key passes the chain check: {out}{err}"
    );
    let (code, out, err) = env.hitl(&["audit", "verify", "--anchor", &anchor]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("line {} has mac", first.0)) && out.contains("does NOT match"),
        "{out}"
    );
}

#[test]
fn an_anchor_to_a_channel_that_does_not_exist_is_refused_at_load() {
    let env = Env::new("audit_anchor: { channel: nowhere }\n");
    let (code, out, err) = env.hitl(&["run"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("audit_anchor.channel") && err.contains("nowhere"),
        "{err}"
    );
}

#[test]
fn a_failed_anchor_is_journaled_and_sent_again_at_the_next_try() {
    let (port, anchors) = anchor_server(1);
    let mut env = Env::new(&format!(
        "notify:\n  - name: hook\n    kind: webhook\n    url: http://127.0.0.1:{port}/anchor\naudit_anchor: {{ channel: hook, every: 1s }}\n"
    ));
    env.start();
    env.pay(1500);
    let sent = anchors.recv_timeout(Duration::from_secs(15)).unwrap();
    wait_for("the sent anchor journaled", || {
        env.journal().iter().any(|e| {
            e["event"] == "anchored"
                && e["details"]["seq"] == sent.0
                && e["details"]["error"].is_null()
        })
    });
    env.stop();
    let anchored: Vec<_> = env
        .journal()
        .into_iter()
        .filter(|e| e["event"] == "anchored")
        .collect();
    let error = anchored[0]["details"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("HTTP 500"), "{anchored:?}");
    assert!(
        !error.contains("/anchor"),
        "the URL is not in the record: {error}"
    );
    assert!(
        env.log().contains("journal anchor not sent"),
        "{}",
        env.log()
    );
}

#[test]
fn a_restart_does_not_resend_an_anchor_that_is_not_due_yet() {
    let (port, anchors) = anchor_server(0);
    let hook = format!(
        "notify:\n  - name: hook\n    kind: webhook\n    url: http://127.0.0.1:{port}/anchor\n"
    );
    let mut env = Env::new(&hook);
    env.start();
    env.pay(1500);
    env.stop();
    // An empty journal has no head to send: anchoring starts on this one.
    env.set_config(&format!(
        "{hook}audit_anchor: {{ channel: hook, every: 1h }}\n"
    ));
    env.start();
    anchors.recv_timeout(Duration::from_secs(15)).unwrap();
    wait_for("the anchor journaled", || {
        env.journal().iter().any(|e| e["event"] == "anchored")
    });
    env.stop();
    env.start();
    // The positive sign: the restarted daemon read the last anchor back
    // and scheduled the next one an hour after it.
    wait_for("the next anchor scheduled", || {
        env.log().matches("next journal anchor due").count() >= 2
    });
    env.stop();
    assert!(anchors.try_recv().is_err(), "an anchor went out again");
    let anchored = env
        .journal()
        .iter()
        .filter(|e| e["event"] == "anchored")
        .count();
    assert_eq!(anchored, 1);
}
