//! The threat table of issue 10: an agent running as the same user, without
//! the code, tries every gesture; each leaves the request pending (checked
//! after a positive sign that the daemon saw it). The human's path: the
//! code from a real channel (a local webhook server) plus a tick.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use serde_json::Value;

use crate::util::{Env, wait_for, wait_for_some};

mod resend;
mod users;
mod window;

/// A webhook server that answers 200 to every POST and hands each JSON body
/// over.
pub(super) fn webhook_server() -> (u16, mpsc::Receiver<Value>) {
    webhook_server_on(0)
}

/// [`webhook_server`] on a given port (0: any free one).
pub(super) fn webhook_server_on(port: u16) -> (u16, mpsc::Receiver<Value>) {
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length: ") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            if let Ok(v) = serde_json::from_slice(&body) {
                let _ = tx.send(v);
            }
        }
    });
    (port, rx)
}

/// The events of request `id` that decide or change something: without
/// the record-only ones (notification deliveries, reminders), which come
/// whenever a channel answers.
/// `hitl totp enroll`; the authenticator secret its otpauth link gives.
pub(super) fn enroll_totp(env: &Env) -> Vec<u8> {
    let (code, out, err) = env.hitl(&["totp", "enroll"]);
    assert_eq!(code, 0, "{err}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("otpauth://totp/"))
        .and_then(|l| l.split("secret=").nth(1))
        .and_then(|s| s.split('&').next())
        .unwrap()
        .to_string();
    hitl::trust::totp::base32_decode(&secret).unwrap()
}

pub(super) fn decisions(env: &Env, id: &str) -> Vec<String> {
    const RECORD_ONLY: &[&str] = &["notified", "notify_failed", "reminded"];
    env.events(id)
        .into_iter()
        .filter(|e| !RECORD_ONLY.contains(&e.as_str()))
        .collect()
}

/// A daemon whose payments need the code sent to the `phone` webhook.
fn coded(rule_extra: &str) -> (Env, mpsc::Receiver<Value>) {
    let (port, rx) = webhook_server();
    let mut env = Env::new(&format!(
        "notify:\n  - {{ name: phone, kind: webhook, url: \"http://127.0.0.1:{port}/codes\" }}\nrules:\n  - {{ name: coded, when: {{ type: payment }}, decision: require, approval: code, code_via: [phone]{rule_extra} }}\n"
    ));
    env.start();
    (env, rx)
}

/// The code the channel got for request `id`.
pub(super) fn code_for(rx: &mpsc::Receiver<Value>, id: &str) -> String {
    wait_for_some("the approval code on the webhook", || {
        let v = rx
            .recv_timeout(std::time::Duration::from_millis(100))
            .ok()?;
        (v["event"] == "code" && v["request"]["id"] == id)
            .then(|| v["code"].as_str().unwrap().to_string())
    })
}

pub(super) fn tick(t: String) -> String {
    t.replace("- [ ] Approve", "- [x] Approve")
}

pub(super) fn with_code(code: &str) -> impl Fn(String) -> String {
    let code = code.to_string();
    move |t| t.replacen("---\n", &format!("---\ncode: \"{code}\"\n"), 1)
}

const NEEDS_CODE: &str = "needs the code sent to phone";

#[test]
fn an_agent_without_the_code_cannot_approve_by_tick_status_move_or_cli() {
    let (env, _rx) = coded("");
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");

    // Each gesture gets its own "needs the code" line: the sign that the
    // daemon read it and took no decision.
    let refused = |gestures: &str| {
        let line = format!("{NEEDS_CODE} ({gestures} without a code)");
        wait_for(&line.clone(), || env.note(&id).contains(&line));
    };
    env.edit(&id, tick);
    refused("ticked Approve");
    env.edit(&id, |t| t.replace("status: pending", "status: approved"));
    refused("status property, ticked Approve");
    env.mv(&id, "Approved");
    refused("moved to the approved folder, status property, ticked Approve");
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("{NEEDS_CODE} (command line")),
        "{err}"
    );
    assert_eq!(decisions(&env, &id), ["submitted"]);
    assert!(env.runs().is_empty());
}

#[test]
fn five_wrong_codes_in_the_note_reject_the_request() {
    let (env, _rx) = coded("");
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    for (i, guess) in ["11111111", "22222222", "33333333", "44444444", "55555555"]
        .iter()
        .enumerate()
    {
        env.edit(&id, |t| with_code(guess)(tick(t)));
        let want = i + 1;
        let counted = || {
            env.events(&id)
                .iter()
                .filter(|e| *e == "wrong_code")
                .count()
        };
        for _ in 0..300 {
            if counted() == want {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(counted(), want, "{}\n{}", env.note(&id), env.log());
        if want < 5 {
            // The guess is used up: the note no longer holds it.
            wait_for("the code cleared", || !env.note(&id).contains(guess));
        }
    }
    env.wait_note(&id, "Done", "rejected");
    assert!(env.runs().is_empty());
}

#[test]
fn the_code_from_the_channel_plus_a_tick_approves_and_is_cleared() {
    let (env, rx) = coded("");
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    let code = code_for(&rx, &id);
    assert_eq!(code.len(), 8);
    let log = env.log();
    assert!(!log.contains(&code), "the code is in the log");
    env.edit(&id, |t| with_code(&code)(tick(t)));
    let note = env.wait_note(&id, "Done", "executed");
    assert!(
        !note.contains(&code),
        "the used code lingers in the note:\n{note}"
    );
    let journal = std::fs::read_to_string(env.state.join("journal.jsonl")).unwrap();
    assert!(!journal.contains(&code), "the code is in the journal");
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn a_code_for_one_request_does_not_approve_another() {
    let (env, rx) = coded("");
    let a = env.pay(1500);
    let b = env.pay(1600);
    let code_a = code_for(&rx, &a);
    let (code, _, err) = env.hitl(&["approve", &b, "--code", &code_a]);
    assert_ne!(code, 0);
    assert!(err.contains("wrong approval code"), "{err}");
    assert_eq!(decisions(&env, &b), ["submitted", "wrong_code"]);
    let (code, _, err) = env.hitl(&["approve", &a, "--code", &code_a]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&a, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn a_used_authenticator_code_does_not_open_another_request() {
    let mut env = Env::new(
        "rules:\n  - { name: coded, when: { type: payment }, decision: require, approval: code, code_via: [totp] }\n",
    );
    let secret = enroll_totp(&env);
    env.start();
    let a = env.pay(1500);
    let b = env.pay(1600);
    let now = jiff::Timestamp::now().as_second();
    let totp = hitl::trust::totp::code_at(&secret, (now / 30) as u64);
    let (code, _, err) = env.hitl(&["approve", &a, "--code", &totp]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = env.hitl(&["approve", &b, "--code", &totp]);
    assert_ne!(code, 0, "a replayed code was taken");
    assert!(err.contains("wrong approval code"), "{err}");
    env.wait_note(&a, "Done", "executed");
    assert_eq!(decisions(&env, &b), ["submitted", "wrong_code"]);
    assert_eq!(env.runs().len(), 1);
}
