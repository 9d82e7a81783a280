//! Issue 12, replay: a settled request whose journal lines can't be read
//! back is named, with why and where, and never given a status.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::util::Env;

/// A request rejected with a reason, then a later one (so a checkpoint's
/// head is another line), the daemon stopped (a checkpoint written), and
/// the rejection's line rewritten in place (same length: every offset
/// holds, its MAC no longer checks). Returns its id and that line's number.
fn settled_then_edited(env: &mut Env) -> (String, usize) {
    env.start();
    let id = env.pay(1500);
    env.reject_with(&id, "not ours, fraud");
    env.wait_note(&id, "Done", "rejected");
    let other = env.pay(20);
    env.wait_note(&other, "Pending_Approval", "pending");
    env.stop();
    let journal = env.state.join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let forged = text.replace("not ours, fraud", "ok - cfo signed");
    assert_eq!(forged.len(), text.len());
    std::fs::write(&journal, &forged).unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l.contains("not ours, fraud"))
        .unwrap();
    (id, line)
}

/// One command over the daemon's socket, as an agent that can't read the
/// journal would send it; a reply is due within 30 s.
fn socket(env: &Env, cmd: &Value) -> Value {
    let mut s = UnixStream::connect(env.state.join("hitl.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("no reply to {cmd}: {e}"));
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn assert_named_and_failed_closed(env: &Env, id: &str, line: usize, when: &str) {
    for args in [vec!["wait", id], vec!["wait", id, "--json"]] {
        let (code, out, err) = env.hitl(&args);
        let all = format!("{out}{err}");
        assert_eq!(code, 1, "{when}: hitl {args:?} exits 1 (error): {all}");
        assert!(
            err.contains(&format!("request {id}")) && err.contains("can't be read back"),
            "{when}: hitl {args:?} names the request and why: {all}"
        );
        assert!(
            err.contains(&format!("line {line}")) && err.contains("MAC mismatch"),
            "{when}: hitl {args:?} names the edited line: {all}"
        );
        assert!(!all.contains("line 0"), "{when}: {all}");
        assert!(
            !all.contains("cfo signed") && !out.contains("status"),
            "{when}: {all}"
        );
    }
}

#[test]
fn waiting_on_a_settled_request_whose_journal_lines_were_edited_names_it_and_fails_closed() {
    let mut env = Env::new("");
    let (id, line) = settled_then_edited(&mut env);
    assert_named_and_failed_closed(&env, &id, line, "daemon down");
    env.start();
    assert_named_and_failed_closed(&env, &id, line, "daemon up");
    // The daemon's own answer, for an agent that asks it alone: refused,
    // naming the request and the line, with no status.
    for op in ["get", "wait"] {
        let r = socket(&env, &json!({"op": op, "id": id}));
        let text = r.to_string();
        assert!(
            text.contains(&format!("request {id}")) && text.contains("can't be read back"),
            "{op}: {r}"
        );
        assert!(text.contains(&format!("line {line}")), "{op}: {r}");
        assert!(
            r.get("status").is_none() && r.get("exit_code").is_none(),
            "{op}: {r}"
        );
    }
}

#[test]
fn a_settled_requests_unreadable_line_is_named_by_its_line_number_not_line_0() {
    let mut env = Env::new("");
    let (id, line) = settled_then_edited(&mut env);
    for args in [["show", id.as_str()], ["history", id.as_str()]] {
        let (code, out, err) = env.hitl(&args);
        assert_ne!(code, 0, "{args:?}: {out}{err}");
        assert!(
            err.contains(&format!(", line {line}: at byte ")),
            "hitl {args:?} names the line and its byte: {err}"
        );
        assert!(!err.contains("line 0"), "{err}");
    }
}
