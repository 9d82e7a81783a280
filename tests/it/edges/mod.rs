//! The socket and the inbox are edges: nothing a caller chose (an id, a
//! path, an identity, a deadline past the rule's) takes effect, they can't
//! be exhausted, and nothing they acknowledged is lost.

mod inbox;
mod socket;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::util::{Env, me};

pub const PAYMENT: &str = r#"{"amount":1500,"recipient":"vendor@example.com"}"#;

/// Sends one raw line over the socket and reads the reply.
pub fn raw(env: &Env, line: &str) -> Value {
    let mut s = UnixStream::connect(env.state.join("hitl.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply:?}"))
}

pub fn submitted(env: &Env) -> Vec<Value> {
    env.journal()
        .into_iter()
        .filter(|e| e["event"] == "submitted")
        .collect()
}

/// Every file under the test's folder that is not in the vault or the
/// state folder, beside the harness's own.
pub fn strays(env: &Env) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    walk(env.dir.path(), &mut all);
    let known = ["config.yaml", "handler.sh", "runs.log", "daemon.log"];
    all.into_iter()
        .filter(|p| !p.starts_with(&env.vault) && !p.starts_with(&env.state))
        .filter(|p| !known.iter().any(|k| p == &env.dir.path().join(k)))
        .collect()
}

/// The deadline is the rule's at most: the config's default of 24 h here.
pub fn assert_capped(sub: &Value) {
    let created: jiff::Timestamp = sub["details"]["created"].as_str().unwrap().parse().unwrap();
    let expires: jiff::Timestamp = sub["details"]["expires"].as_str().unwrap().parse().unwrap();
    let span = expires.as_second() - created.as_second();
    assert!(span <= 24 * 3600, "expires {expires} is past the limit");
}
#[test]
fn forged_fields_from_a_raw_socket_client_take_no_effect() {
    let mut env = Env::new("");
    env.start();
    let outside = env.dir.path().join("outside.md");
    let forged = [
        format!(r#"{{"op":"submit","action":"payment","payload":{PAYMENT},"id":"../../x"}}"#),
        format!(
            r#"{{"op":"submit","action":"payment","payload":{PAYMENT},"file_name":"../../outside.md"}}"#
        ),
        format!(
            r#"{{"op":"submit","action":"payment","payload":{PAYMENT},"file_name":"{}"}}"#,
            outside.display()
        ),
        format!(r#"{{"op":"submit","action":"payment","payload":{PAYMENT},"source":"cli"}}"#),
        format!(r#"{{"op":"submit","action":"payment","payload":{PAYMENT},"requested_by":"ceo"}}"#),
        format!(r#"{{"op":"submit","action":"payment","payload":{PAYMENT},"by":"ceo"}}"#),
        format!(r#"{{"op":"submit","action":"payment","payload":{PAYMENT},"label":"x\u001b[2J"}}"#),
    ];
    for line in &forged {
        let reply = raw(&env, line);
        assert_eq!(reply["ok"], false, "{line}: {reply}");
    }
    // A well-formed request asking for a far deadline gets the rule's.
    let reply = raw(
        &env,
        &format!(
            r#"{{"op":"submit","action":"payment","payload":{PAYMENT},"expires":"2999-01-01T00:00:00Z","timeout_s":9999999999,"label":"billing-bot"}}"#
        ),
    );
    assert_eq!(reply["ok"], true, "{reply}");
    let id = reply["id"].as_str().unwrap().to_string();
    let subs = submitted(&env);
    assert_eq!(subs.len(), 1, "only the well-formed request: {subs:?}");
    assert_eq!(subs[0]["request"], id);
    assert_capped(&subs[0]);
    let by = format!("{} (agent: billing-bot)", me());
    assert_eq!(subs[0]["actor"], by);
    assert_eq!(subs[0]["details"]["requested_by"], by);
    assert_eq!(subs[0]["details"]["source"], "cli");
    assert_eq!(subs[0]["details"]["file_name"], format!("payment-{id}.md"));
    // A decision names the caller, whatever it says.
    let reply = raw(
        &env,
        &format!(r#"{{"op":"decide","id":"{id}","approve":false,"by":"ceo"}}"#),
    );
    assert_eq!(reply["ok"], false, "{reply}");
    let reply = raw(&env, r#"{"op":"decide","id":"../../x","approve":true}"#);
    assert_eq!(reply["ok"], false, "{reply}");
    let reply = raw(
        &env,
        &format!(r#"{{"op":"decide","id":"{id}","approve":false,"reason":"no"}}"#),
    );
    assert_eq!(reply["ok"], true, "{reply}");
    let note = env.wait_note(&id, "Done", "rejected");
    assert!(note.contains(&format!("decided_by: {}\n", me())), "{note}");
    assert!(note.contains("billing-bot"), "{note}");
    let (_, list, _) = env.hitl(&["show", &id]);
    assert!(list.contains(&format!("requested by: {by}")), "{list}");
    assert!(list.contains(&format!("rejected by {}", me())), "{list}");
    assert_eq!(strays(&env), Vec::<PathBuf>::new());
    assert!(!outside.exists());
}
#[test]
fn control_characters_in_requester_text_are_shown_escaped() {
    let mut env = Env::new("");
    env.start();
    let evil = "pay\u{1b}[2J\u{1b}]0;pwned\u{7}\rAPPROVED\u{9b}31m";
    let id = env.request(&["payment", "--payload", PAYMENT, "--summary", evil]);
    env.wait_note(&id, "Pending_Approval", "pending");
    assert_eq!(
        env.hitl(&["reject", &id, "--reason", "no\u{1b}[1A\rok"]).0,
        0
    );
    env.wait_note(&id, "Done", "rejected");
    for args in [vec!["list"], vec!["show", &id], vec!["history"]] {
        let (code, out, err) = env.hitl(&args);
        assert_eq!(code, 0, "{err}");
        assert!(
            !out.contains(['\u{1b}', '\r', '\u{7}', '\u{9b}']),
            "{args:?} printed raw control characters: {out:?}"
        );
    }
    let (_, show, _) = env.hitl(&["show", &id]);
    assert!(
        show.contains(r"pay\u{1b}[2J\u{1b}]0;pwned\u{7}\rAPPROVED"),
        "{show}"
    );
    assert!(show.contains(r"no\u{1b}[1A\rok"), "{show}");
}
