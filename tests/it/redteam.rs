//! Attacks by an agent that runs as the same user, writes the vault and
//! talks to the socket; each test is named after what it defends.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::*;

/// A request that is submitted and settled while a watched folder is away
/// has no note yet; when the vault comes back its note is written, in
/// `Done/`, with the final state.
#[test]
fn a_request_settled_while_the_vault_was_away_gets_its_note_when_it_is_back() {
    let mut env = Env::new("");
    env.start();
    let done = env.folder("Done");
    let aside = env.vault.join("Done.aside");
    std::fs::rename(&done, &aside).unwrap();
    wait_for("unavailable", || {
        env.log().contains("the vault is unavailable")
    });
    let id = env.pay(5);
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    wait_for("ran", || env.events(&id).iter().any(|e| e == "executed"));
    std::fs::rename(&aside, &done).unwrap();
    wait_for("back", || env.log().contains("the vault is back"));
    env.wait_note(&id, "Done", "executed");
}

/// A drop-in note may say who it is from, but only as a label on the
/// drop-in channel: it can't pass for a caller the kernel named
/// (`cli:<user>`), in the journal or in the note.
#[test]
fn a_drop_in_cannot_claim_a_kernel_verified_requester() {
    let mut env = Env::new("");
    env.start();
    let forged = me();
    std::fs::write(
        env.folder("Pending_Approval").join("forged.md"),
        format!("---\naction: payment\namount: 3\nrequested_by: {forged}\n---\n"),
    )
    .unwrap();
    let submitted = wait_for_some("ingested", || {
        env.journal()
            .into_iter()
            .find(|e| e["event"] == "submitted")
    });
    let actor = submitted["actor"].as_str().unwrap();
    let requested_by = submitted["details"]["requested_by"].as_str().unwrap();
    for who in [actor, requested_by] {
        assert!(
            who.starts_with("drop-in") && who.contains(&forged),
            "the drop-in channel is named, the claim kept as a label: {who}"
        );
    }
    let id = submitted["request"].as_str().unwrap();
    let note = env.wait_note(id, "Pending_Approval", "pending");
    assert!(
        !note.contains(&format!("**Requested by:** {forged}")),
        "{note}"
    );
}

/// `hitl wait` legitimately holds its connection for hours, so an agent
/// can open as many waits as the daemon allows connections. They must not
/// take the connections `hitl status` and `hitl approve` need.
#[test]
fn many_waiting_clients_do_not_lock_out_the_socket() {
    let mut env = Env::new("");
    // A small limit, so the cap is within reach: 384 connections.
    env.start_with_fd_limit(1024);
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    let cap: usize = wait_for_some("socket limits logged", || {
        let log = env.log();
        let line = log.lines().find(|l| l.contains("socket limits"))?;
        let n = line
            .split("connections=")
            .nth(1)?
            .split_whitespace()
            .next()?;
        n.parse().ok()
    });
    let sock = env.state.join("hitl.sock");
    let line = format!("{{\"op\":\"wait\",\"id\":\"{id}\"}}\n");
    let mut waiting = Vec::with_capacity(cap);
    for _ in 0..cap {
        let Ok(mut s) = UnixStream::connect(&sock) else {
            break; // the daemon's backlog is full: every slot is taken
        };
        if s.write_all(line.as_bytes()).is_err() {
            break;
        }
        waiting.push(s);
        if waiting.len() % 32 == 0 {
            // Paced as a patient agent would: each waiter is seen to
            // have sent its line, so none counts as an idle connection.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let status = env
        .cmd()
        .arg("status")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let answered = answers_within(status, Duration::from_secs(10));
    drop(waiting);
    assert!(
        answered,
        "`hitl status` got no answer while {cap} clients waited"
    );
}

/// Whether `child` exits successfully within `limit`; killed otherwise.
fn answers_within(mut child: std::process::Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A payload string can hold characters that make text display as other
/// text (a right-to-left override shows `1234` as `4321`; zero-width and C1
/// characters hide). The note shows them as JSON escapes, so its payload
/// block reads as what runs, and still parses to exactly that payload.
#[test]
fn payload_text_in_a_note_cannot_display_as_other_text() {
    let mut env = Env::new("");
    env.start();
    let iban = "DE\u{202e}1234\u{202c}\u{200b}\u{9b}";
    let payload = serde_json::json!({ "amount": 5, "iban": iban });
    let id = env.request(&["payment", "--payload", &payload.to_string()]);
    let note = env.wait_note(&id, "Pending_Approval", "pending");
    let block = note
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .unwrap();
    for c in ['\u{202e}', '\u{202c}', '\u{200b}', '\u{9b}'] {
        assert!(!block.contains(c), "U+{:04X} shown raw:\n{block}", c as u32);
    }
    assert!(block.contains("\\u202e"), "{block}");
    let shown: serde_json::Value = serde_json::from_str(block).unwrap();
    assert_eq!(shown, payload, "the block still reads as the payload");
    env.edit(&id, |t| t.replace("- [ ] Approve", "- [x] Approve"));
    wait_for("ran", || env.runs().len() == 1);
    assert!(env.runs()[0].contains(iban), "{:?}", env.runs());
}

/// `-     [x] Approve` (five spaces after the bullet) is an indented code
/// block inside a list item in markdown: Obsidian shows text, not a ticked
/// box. Only hitl's own line, `- [x] Approve`, is a decision.
#[test]
fn a_box_shown_as_code_is_no_decision() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| t.replace("- [ ] Approve", "-     [x] Approve"));
    wait_for("warned", || {
        env.note(&id).contains("the Approve task was changed")
    });
    assert_eq!(env.events(&id), ["submitted"]);
    assert!(env.runs().is_empty());
}

/// A payload nested just under the JSON reader's limit when submitted
/// would sit past it inside a journal line, and the next start would
/// refuse the journal as damaged. The nesting is bounded at submission,
/// whatever the channel, so every journaled request reads back.
#[test]
fn a_deeply_nested_payload_cannot_make_the_journal_unreadable() {
    let mut env = Env::new("");
    env.start();
    let deep = |d: usize| format!("{}{}", "[".repeat(d), "]".repeat(d));
    for d in [100, 120, 124, 125, 126] {
        let _ = env.hitl(&["request", "payment", "--payload", &deep(d)]);
    }
    std::fs::write(
        env.folder("Pending_Approval").join("deep.md"),
        format!("---\naction: payment\n---\n```json\n{}\n```\n", deep(126)),
    )
    .unwrap();
    wait_for("drop-in looked at", || {
        std::fs::read_to_string(env.folder("Pending_Approval").join("deep.md"))
            .is_ok_and(|t| t.contains("hitl"))
    });
    let ok = env.pay(5);
    env.stop();
    env.start();
    let (code, out, err) = env.hitl(&["show", &ok]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = env.hitl(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// A second `## Decision` section (added by whoever can write the vault)
/// must neither take the real one's place nor swallow a human's tick
/// without a word: the note says so and no decision is taken.
#[test]
fn a_tick_in_a_look_alike_decision_section_is_not_silently_ignored() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| {
        t.replace(
            "## Result",
            "## Decision\n\n- [ ] Approve\n- [x] Reject\n\n## Result",
        )
    });
    wait_for("warned", || {
        env.note(&id).contains("second `## Decision` section")
    });
    assert_eq!(env.events(&id), ["submitted"]);
    assert!(env.runs().is_empty());
}

/// Requester text shown in the note's body (the summary as title, a
/// payload value quoted in a risk signal, the requester's label, the
/// rationale) can't open an Obsidian comment, an HTML comment or an embed
/// that would hide the payload from the person deciding in reading view.
#[test]
fn requester_text_cannot_hide_the_payload_in_reading_view() {
    let mut env = Env::new(
        "rules:\n  - { name: big, when: { amount: { gt: 100 } }, decision: require }\ndefault: require\n",
    );
    env.start();
    let id = env.request(&[
        "payment",
        "--summary",
        "Pay the usual %% ![[Secret]] <!-- [[x]] $y$ ==z==",
        "--reason",
        "%% see <div hidden>",
        "--requested-by",
        "bot",
        "--payload",
        r#"{"amount":"100 %% <!--","to":"x"}"#,
    ]);
    let note = env.wait_note(&id, "Pending_Approval", "pending");
    let head = &note[note.find("\n---\n").unwrap()..note.find("## Decision").unwrap()];
    let body_head = &head[..head.find("```json").expect("payload block shown")];
    for syntax in ["%%", "<!--", "![[", "[[", "<div", "$y$", "==z=="] {
        assert!(
            !body_head.contains(syntax),
            "`{syntax}` live in the head:\n{head}"
        );
    }
    assert!(body_head.contains("Pay the usual &#37;&#37;"), "{head}");
}
