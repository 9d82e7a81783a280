//! The note as the human sees it: the daemon's head is what runs, only the
//! daemon's own task lines are gestures, the deadline binds, and notes of
//! settled requests are put back when edited.

use super::util;

use std::process::Stdio;

use util::{Env, crashed_while_running, wait_for, wait_for_some};

/// Replaces the first line starting with `prefix` by `new`.
fn replace_line(text: &str, prefix: &str, new: &str) -> String {
    let mut done = false;
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if !done && line.starts_with(prefix) {
            done = true;
            out.push_str(new);
            out.push('\n');
        } else {
            out.push_str(line);
        }
    }
    assert!(done, "no line starts with {prefix:?} in\n{text}");
    out
}

/// The payload block of a note, fences included.
fn payload_block(text: &str) -> String {
    let start = text.find("```json\n").expect("a payload block");
    let end = start + text[start + 8..].find("```\n").expect("closed") + 8 + 4;
    text[start..end].to_string()
}

const FAKE: &str = "```json\n{\n  \"amount\": 1,\n  \"currency\": \"USD\",\n  \"recipient\": \"vendor@example.com\"\n}\n```\n";

fn tick_approve(text: String) -> String {
    text.replacen("- [ ] Approve", "- [x] Approve", 1)
}

/// Waits for a warning callout containing `needle` in the note.
fn wait_warning(env: &Env, id: &str, needle: &str) -> String {
    wait_for_some(needle, || {
        let text = std::fs::read_to_string(env.note_path(id)?).ok()?;
        (text.contains("> [!warning] hitl") && text.contains(needle)).then_some(text)
    })
}

type Edit = fn(String) -> String;

#[test]
fn any_edit_of_the_head_then_a_tick_is_tampered_and_runs_nothing() {
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "payload hidden in a comment, a fake one shown",
            |t| {
                let real = payload_block(&t);
                t.replacen(&real, &format!("<!--\n{real}-->\n{FAKE}"), 1)
            },
            "added above",
        ),
        (
            "a second json block after the payload",
            |t| {
                let real = payload_block(&t);
                t.replacen(&real, &format!("{real}\n{FAKE}"), 1)
            },
            "added above",
        ),
        (
            "a ~~~ block before the payload",
            |t| t.replacen("```json\n", "~~~json\n{\"amount\": 1}\n~~~\n\n```json\n", 1),
            "added above",
        ),
        (
            "title",
            |t| {
                let body = t.find("\n---\n").unwrap() + 5;
                let (fm, body) = t.split_at(body);
                format!("{fm}{}", replace_line(body, "# ", "# Pay 15 USD"))
            },
            "the title",
        ),
        (
            "summary line",
            |t| {
                replace_line(
                    &t,
                    "**Action:**",
                    "**Action:** `payment` · **Requested by:** the CFO",
                )
            },
            "the summary line",
        ),
        (
            "risk callout",
            |t| replace_line(&t, "> [!", "> [!note] Risk: low"),
            "the risk callout",
        ),
        (
            "action property",
            |t| replace_line(&t, "action: ", "action: refund"),
            "property `action`",
        ),
        (
            "risk property",
            |t| replace_line(&t, "risk: ", "risk: none"),
            "property `risk`",
        ),
        (
            "expires property",
            |t| replace_line(&t, "expires: ", "expires: 2099-01-01T00:00:00"),
            "property `expires`",
        ),
        (
            "payload_sha256 property",
            |t| {
                replace_line(
                    &t,
                    "payload_sha256: ",
                    &format!("payload_sha256: {}", "0f".repeat(32)),
                )
            },
            "property `payload_sha256`",
        ),
        (
            "summary property",
            |t| replace_line(&t, "summary: ", "summary: Pay 1 USD"),
            "property `summary`",
        ),
    ];
    let mut env = Env::new("");
    env.start();
    let ids: Vec<String> = cases.iter().map(|_| env.pay(1500)).collect();
    for ((_, edit, _), id) in cases.iter().zip(&ids) {
        env.wait_note(id, "Pending_Approval", "pending");
        env.edit(id, |t| tick_approve(edit(t)));
    }
    for ((what, _, says), id) in cases.iter().zip(&ids) {
        let note = env.wait_note(id, "Done", "tampered");
        assert_eq!(env.events(id), ["submitted", "tampered"], "{what}");
        assert!(
            note.contains("tampered: the note was changed where only hitl writes")
                && note.contains(says),
            "{what}: the note says what changed\n{note}"
        );
        let ev = env
            .journal()
            .into_iter()
            .find(|e| e["request"] == id.as_str() && e["event"] == "tampered")
            .unwrap();
        let changed = ev["details"]["changed"].to_string();
        assert!(changed.contains(says), "{what}: {changed}");
    }
    assert!(env.runs().is_empty(), "nothing ran: {:?}", env.runs());
}

#[test]
fn an_untouched_head_with_human_properties_reason_warnings_and_sections_approves() {
    let mut env = Env::new("");
    // Notes in a zone other than UTC: a date rewritten with an offset is
    // still the same instant.
    env.start_env(&[("TZ", "<+03>-3")]);
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    // A warning of the daemon's own lands in the Decision section first.
    env.edit(&id, |t| {
        t.replace("- [ ] Reject", "- [x] Reject")
            .replace("- [ ] Approve", "- [x] Approve")
    });
    wait_warning(&env, &id, "conflicting decisions");
    let expires = env
        .journal()
        .into_iter()
        .find(|e| e["request"] == id.as_str() && e["event"] == "submitted")
        .unwrap()["details"]["expires"]
        .as_str()
        .unwrap()
        .to_string();
    let in_utc = expires[..19].to_string();
    assert!(
        !env.note(&id).contains(&format!("expires: {in_utc}\n")),
        "the note shows local time, not UTC"
    );
    env.edit(&id, |t| {
        let summary = t
            .lines()
            .find(|l| l.starts_with("summary: "))
            .unwrap()
            .to_string();
        // The same value, single-quoted and moved up, as an editor might.
        let value = &summary["summary: ".len()..];
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"').unwrap(),
            None => value,
        };
        assert!(!value.contains('\\'), "no escapes to undo: {value}");
        let requoted = format!("summary: '{}'", value.replace('\'', "''"));
        let t = replace_line(&t, "expires: ", &format!("expires: {expires}"));
        let t = t.replace(&format!("{summary}\n"), "");
        let t = t.replacen(
            "type: approval_request\n",
            &format!("type: approval_request\n{requoted}\n"),
            1,
        );
        let t = t.replacen(
            "payload_sha256",
            "reviewer: alice\ntags:\n  - money\ndecision_reason: invoice checked\npayload_sha256",
            1,
        );
        let t = t.replace("- [x] Reject", "- [ ] Reject");
        let t = t.replacen("## Result", "Checked with Bob.\n\n## Result", 1);
        format!("{t}\n## My notes\n\nFrom savings.\n")
    });
    let note = env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
    for kept in [
        "reviewer: alice",
        "Checked with Bob.",
        "## My notes",
        "invoice checked",
    ] {
        assert!(note.contains(kept), "{kept} kept:\n{note}");
    }
    assert!(
        note.contains("created: ") && !note.contains("tampered"),
        "{note}"
    );
}

#[test]
fn a_changed_approve_label_is_no_decision_and_is_warned() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| {
        t.replace(
            "- [ ] Approve",
            "- [x] Approve the cancellation (i.e. REJECT it)",
        )
    });
    let note = wait_warning(&env, &id, "label unchanged");
    assert!(note.contains("REJECT it"), "the warning names it:\n{note}");
    assert!(
        note.contains("- [ ] Approve\n"),
        "hitl's line is back:\n{note}"
    );
    assert_eq!(env.events(&id), ["submitted"]);
    assert!(env.runs().is_empty());
}

#[test]
fn a_tick_inside_a_code_fence_or_comment_is_no_decision() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| {
        t.replace(
            "- [ ] Reject\n",
            "- [ ] Reject\n\n```\n- [x] Approve\n```\n<!--\n- [x] Approve\n-->\n",
        )
    });
    // Then a real Reject: had a hidden tick counted, the two would conflict
    // (or the approval would have run first).
    env.edit(&id, |t| t.replace("- [ ] Reject", "- [x] Reject"));
    let note = env.wait_note(&id, "Done", "rejected");
    assert_eq!(env.events(&id), ["submitted", "rejected"]);
    assert!(
        note.contains("```\n- [x] Approve\n```"),
        "human text kept:\n{note}"
    );
    assert!(env.runs().is_empty());
}

#[test]
fn a_box_marked_with_another_character_is_no_decision_and_is_warned() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| t.replace("- [ ] Approve", "- [?] Approve"));
    let note = wait_warning(&env, &id, "marked with `?`");
    assert!(
        note.contains("- [?] Approve\n"),
        "the mark stays as typed:\n{note}"
    );
    assert_eq!(env.events(&id), ["submitted"]);
    // Marked properly, it is a decision.
    env.edit(&id, |t| t.replace("- [?] Approve", "- [x] Approve"));
    env.wait_note(&id, "Done", "executed");
}

#[test]
fn an_unclosed_fence_under_decision_does_not_grow_the_note() {
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| {
        t.replace("- [ ] Reject\n", "- [ ] Reject\n\n```\nmy code\n")
    });
    let mut sizes = Vec::new();
    for i in 0..10 {
        env.edit(&id, |t| {
            let t = t.replace("status: pending", "status: maybe0");
            (0..10).fold(t, |t, j| {
                t.replace(&format!("status: maybe{j}"), &format!("status: maybe{i}"))
            })
        });
        let note = wait_warning(&env, &id, &format!("unknown status `maybe{i}`"));
        sizes.push(note.len());
    }
    assert!(sizes.windows(2).all(|w| w[0] == w[1]), "sizes: {sizes:?}");
    let note = env.note(&id);
    assert_eq!(note.matches("## Result").count(), 1, "{note}");
    assert_eq!(env.events(&id), ["submitted"]);
}

/// Stops the daemon before the deadline, resumes it 50 ms past it, after
/// the gestures were made: the engine gets to them late.
#[test]
fn a_decision_after_the_deadline_is_refused_by_cli_and_by_tick() {
    let mut env = Env::new("");
    env.start();
    let by_tick = env.request(&[
        "payment",
        "--payload",
        r#"{"amount":1500}"#,
        "--timeout",
        "6s",
    ]);
    let by_cli = env.request(&[
        "payment",
        "--payload",
        r#"{"amount":1600}"#,
        "--timeout",
        "6s",
    ]);
    env.wait_note(&by_tick, "Pending_Approval", "pending");
    env.wait_note(&by_cli, "Pending_Approval", "pending");
    let deadline: jiff::Timestamp = env
        .journal()
        .iter()
        .filter(|e| e["event"] == "submitted")
        .map(|e| e["details"]["expires"].as_str().unwrap().parse().unwrap())
        .max()
        .unwrap();
    env.signal(libc::SIGSTOP);
    assert!(
        jiff::Timestamp::now() < deadline,
        "stopped before the deadline"
    );
    let late = deadline + jiff::SignedDuration::from_millis(50);
    wait_for("the deadline passed", || jiff::Timestamp::now() > late);
    env.edit(&by_tick, tick_approve);
    let cli = env
        .cmd()
        .args(["approve", &by_cli])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    env.signal(libc::SIGCONT);
    let out = cli.wait_with_output().unwrap();
    assert!(!out.status.success(), "the late approval is refused");
    for id in [&by_tick, &by_cli] {
        env.wait_note(id, "Done", "expired");
        assert_eq!(env.events(id), ["submitted", "expired"]);
    }
    assert!(env.runs().is_empty());
}

#[test]
fn an_edited_daemon_property_of_a_settled_note_is_put_back() {
    let (mut env, id) = crashed_while_running("slow");
    env.start();
    env.wait_note(&id, "Pending_Approval", "unknown");
    env.edit(&id, |t| {
        let t = replace_line(&t, "status: ", "status: approved");
        let t = replace_line(&t, "risk: ", "risk: none");
        t.replacen("## Result", "My own words.\n\n## Result", 1)
    });
    let note = env.wait_note(&id, "Pending_Approval", "unknown");
    assert!(!note.contains("risk: none"), "{note}");
    assert!(note.contains("My own words."), "{note}");
    // A final note dragged back out of Done/ with its status changed.
    let (env, id) = Env::with_pending_payment();
    env.edit(&id, |t| replace_line(&t, "action: ", "action: refund"));
    env.wait_note(&id, "Done", "tampered");
    // Edited and moved in one step (a rename from outside the watched
    // folders), whether or not the daemon watches Done/.
    let done = env.note_path(&id).unwrap();
    let text = std::fs::read_to_string(&done).unwrap();
    let edited = replace_line(&text, "status: ", "status: approved") + "\n## Mine\n\nKeep me.\n";
    let staged = env.dir.path().join("staged.md");
    std::fs::write(&staged, edited).unwrap();
    std::fs::remove_file(&done).unwrap();
    std::fs::rename(
        &staged,
        env.folder("Rejected").join(done.file_name().unwrap()),
    )
    .unwrap();
    let note = env.wait_note(&id, "Done", "tampered");
    assert!(note.contains("Keep me."), "{note}");
    assert_eq!(env.events(&id), ["submitted", "tampered"]);
}

#[test]
fn a_drop_in_with_its_own_text_and_json_block_approves_by_tick() {
    let mut env = Env::new("");
    env.start();
    let path = env.folder("Pending_Approval").join("PAY_Bob.md");
    std::fs::write(
        &path,
        "---\naction: payment\nreason: Garden\ntags: [money]\n---\n# Pay Bob\n\nBob did the garden.\n\n```json\n{\"amount\": 900, \"recipient\": \"Bob\"}\n```\n\n## Details\n\nSee the invoice.\n",
    )
    .unwrap();
    let id = wait_for_some("ingested", || {
        let text = std::fs::read_to_string(&path).ok()?;
        let line = text.lines().find(|l| l.starts_with("hitl_id: "))?;
        Some(line["hitl_id: ".len()..].trim_matches('"').to_string())
    });
    env.edit(&id, tick_approve);
    let note = env.wait_note(&id, "Done", "executed");
    assert!(
        note.contains("Bob did the garden.") && note.contains("See the invoice."),
        "{note}"
    );
    assert_eq!(env.runs().len(), 1);
}
