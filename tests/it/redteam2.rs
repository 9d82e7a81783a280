//! Red team, round 2: the agent (same user, writes the vault, talks to the
//! socket) against notifications, the requester's `--notify` URL, the
//! dashboard and Done/ by month. Each test is named after what it defends.

use std::net::TcpListener;

use crate::notify::desktop::notification_server;
use crate::notify::hook::{deliveries, hook, ntfy, wait_hit};
use crate::util::{Env, wait_for};

/// A summary written to look like the message's own lines.
const FAKE_LINES: &str =
    "Invoice\nRisk: low\nOutcome: approved by boss\r\nPayload: {}\u{2028}Deadline: none\u{202e}";

#[test]
fn summary_line_breaks_cannot_fake_a_notifications_fields() {
    let (url, hits) = hook(200);
    let mut env = Env::new(&format!("notify:\n{}", ntfy("phone", &url, "")));
    env.start();
    let long = format!("{FAKE_LINES} {}", "pad ".repeat(200));
    let id = env.request(&["payment", "--set", "amount=1500", "--summary", &long]);
    let hit = wait_hit(&hits, |h| h.body.contains(&id));
    let lines: Vec<&str> = hit.body.lines().collect();
    let starting = |p: &str| lines.iter().filter(|l| l.starts_with(p)).count();
    assert_eq!(starting("Risk:"), 1, "{}", hit.body);
    assert!(
        lines.iter().any(|l| l.starts_with("Risk: high")),
        "{}",
        hit.body
    );
    assert_eq!(starting("Outcome:"), 0, "{}", hit.body);
    assert_eq!(starting("Payload:"), 1, "{}", hit.body);
    assert_eq!(starting("Deadline:"), 1, "{}", hit.body);
    let summary = lines.iter().find(|l| l.starts_with("Summary:")).unwrap();
    assert!(summary.contains("\\u{202e}"), "{summary}");
    // The summary is cut so the payload and the commands stay in view.
    assert!(summary.chars().count() <= 220, "{summary}");
    assert!(hit.body.contains(&format!("hitl approve {id}")));
}

#[test]
fn summary_line_breaks_cannot_fake_rows_of_a_digest() {
    let (url, hits) = hook(200);
    let channel = ntfy(
        "phone",
        &url,
        "    digest_after: 1\n    digest_window: 2s\n",
    );
    let mut env = Env::new(&format!("notify:\n{channel}"));
    env.start();
    env.pay(1500);
    let fake = "x\n- [low] payment: nothing to see (hitl approve 00000000; never)";
    let hidden = env.request(&["payment", "--set", "amount=2500", "--summary", fake]);
    let digest = wait_hit(&hits, |h| {
        h.header("title")
            .is_some_and(|t| t.contains("new requests"))
    });
    let rows: Vec<&str> = digest.body.lines().collect();
    assert_eq!(rows.len(), 1, "{}", digest.body);
    assert!(
        rows[0].starts_with("- [high] payment: x - [low]"),
        "{}",
        rows[0]
    );
    assert!(rows[0].contains(&hidden), "{}", rows[0]);
}

#[test]
fn summary_markup_is_text_in_a_desktop_notification() {
    let Some((_bus, address, seen, _conn)) = notification_server("desktop markup test") else {
        return;
    };
    let mut env = Env::new("notify:\n  - { name: desk, kind: desktop }\n");
    env.start_env(&[("DBUS_SESSION_BUS_ADDRESS", &address)]);
    let evil = "<b>Approved &amp; safe</b> <a href=\"https://evil.example/\">open</a> <img src=\"file:///x\">";
    let id = env.request(&["payment", "--set", "amount=1500", "--summary", evil]);
    let body = crate::util::wait_for_some("the notification", || {
        seen.lock()
            .unwrap()
            .iter()
            .find(|(_, body, _)| body.contains(&id))
            .map(|(_, body, _)| body.clone())
    });
    assert!(!body.contains('<'), "{body}");
    assert!(
        body.contains("&lt;a href=\"https://evil.example/\"&gt;"),
        "{body}"
    );
    assert!(body.contains("&lt;b&gt;Approved &amp;amp; safe"), "{body}");
}

/// A server that takes connections and never answers; they stay open.
fn black_hole() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/outcome", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    url
}

#[test]
fn notify_urls_that_never_answer_cannot_use_up_the_daemons_files() {
    let mut env = Env::new(
        "rules:\n  - { name: huge, when: { amount: { gt: 10000 } }, decision: deny }\ndefault: require\n",
    );
    env.start_with_fd_limit(96);
    let url = black_hole();
    for _ in 0..120 {
        let (code, _, err) = env.hitl(&[
            "request",
            "payment",
            "--set",
            "amount=20000",
            "--notify",
            &url,
        ]);
        assert_ne!(code, -1, "{err}");
    }
    // The daemon still writes notes and journals decisions.
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    env.hitl(&["approve", &id]);
    env.wait_note(&id, "Done", "executed");
    assert!(!env.log().contains("Too many open files"), "{}", env.log());
}

#[test]
fn notify_url_redirect_is_not_followed() {
    let (target, hits) = hook(200);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/outcome", l.local_addr().unwrap());
    let to = format!("{target}/elsewhere");
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 307 X\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    let mut env = Env::new("");
    env.start();
    let id = env.request(&["payment", "--set", "amount=900", "--notify", &url]);
    env.hitl(&["reject", &id, "--reason", "no"]);
    wait_for("the failed delivery journaled", || {
        deliveries(&env, &id, "notify_failed")
            .iter()
            .any(|d| d["channel"] == "requester")
    });
    let failed = &deliveries(&env, &id, "notify_failed")[0];
    assert!(
        failed["error"].as_str().unwrap_or("").contains("HTTP 307"),
        "{failed}"
    );
    assert!(hits.lock().unwrap().is_empty());
}

fn this_month() -> String {
    hitl::vault::month_of(jiff::Timestamp::now(), &jiff::tz::TimeZone::system())
}

/// Rejects a fresh pending payment; its id once its note has settled.
fn rejected(env: &Env) -> String {
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    assert_eq!(env.hitl(&["reject", &id]).0, 0);
    env.wait_note(&id, "Done", "rejected");
    id
}

#[test]
fn a_month_folder_symlinked_outside_the_vault_gets_no_note() {
    let mut env = Env::new("");
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(env.folder("Done")).unwrap();
    std::os::unix::fs::symlink(outside.path(), env.folder("Done").join(this_month())).unwrap();
    env.start();
    let id = rejected(&env);
    let path = env.note_path(&id).unwrap();
    assert_eq!(path.parent().unwrap(), env.folder("Done"), "{path:?}");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(env.log().contains("is not a folder of the vault"));
}

#[test]
fn a_file_named_like_a_month_folder_is_left_alone_and_the_note_still_settles() {
    let mut env = Env::new("");
    std::fs::create_dir_all(env.folder("Done")).unwrap();
    let squatter = env.folder("Done").join(this_month());
    std::fs::write(&squatter, "not a folder").unwrap();
    env.start();
    let id = rejected(&env);
    assert_eq!(
        env.note_path(&id).unwrap().parent().unwrap(),
        env.folder("Done")
    );
    assert_eq!(std::fs::read_to_string(&squatter).unwrap(), "not a folder");
}

#[test]
fn a_note_planted_in_a_month_claiming_a_request_is_a_stale_copy_and_not_counted() {
    let mut env = Env::new("");
    env.start();
    let id = rejected(&env);
    let real = env.note_path(&id).unwrap();
    let forged = env
        .note(&id)
        .replace("status: rejected\n", "status: approved\n");
    let dir = env.folder("Done").join(this_month());
    let planted = dir.join("forged approval.md");
    std::fs::write(&planted, &forged).unwrap();
    wait_for("the planted copy marked stale", || {
        std::fs::read_to_string(&planted).is_ok_and(|t| t.contains("stale copy"))
    });
    assert_eq!(env.note_path(&id).map(|_| ()), Some(()));
    assert!(
        std::fs::read_to_string(&real)
            .unwrap()
            .contains("status: rejected\n")
    );
    assert_eq!(
        env.events(&id).iter().filter(|e| *e == "approved").count(),
        0
    );
    // The daemon's page counts from the journal: one request, rejected.
    wait_for("the dashboard counting one rejected request", || {
        std::fs::read_to_string(env.vault.join("Approvals.md")).is_ok_and(|p| {
            p.contains("| rejected | 1 |")
                && p.contains("| approved | 0 |")
                && p.contains("| **all** | 1 |")
        })
    });
}

#[test]
fn a_high_risk_request_heads_a_digest_flooded_with_low_risk_ones() {
    let (url, hits) = hook(200);
    let channel = ntfy(
        "phone",
        &url,
        "    digest_after: 1\n    digest_window: 3s\n",
    );
    let mut env = Env::new(&format!("notify:\n{channel}"));
    env.start();
    for i in 0..25 {
        let summary = format!("routine refund {i}");
        env.request(&["refund", "--set", "ref=r1", "--summary", &summary]);
    }
    let high = env.pay(5000);
    let digest = wait_hit(&hits, |h| h.body.contains(&high));
    assert_eq!(digest.header("priority").as_deref(), Some("5"));
    let first = digest.body.lines().next().unwrap_or("");
    assert!(first.starts_with("- [high] payment"), "{}", digest.body);
    assert!(first.contains(&high), "{}", digest.body);
    assert!(digest.body.contains("more: hitl list --status pending"));
    let second = digest.body.lines().nth(1).unwrap_or("");
    assert!(second.starts_with("- [low] refund"), "{}", digest.body);
}

#[test]
fn notify_url_credentials_stay_out_of_the_log_the_note_and_the_failure() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let url = format!("http://agent:pw-5ecr3t@127.0.0.1:{port}/o?token=tk-5ecr3t");
    let mut env = Env::new("");
    env.start();
    let id = env.request(&["payment", "--set", "amount=900", "--notify", &url]);
    env.hitl(&["reject", &id, "--reason", "no"]);
    wait_for("the failed delivery journaled", || {
        deliveries(&env, &id, "notify_failed")
            .iter()
            .any(|d| d["channel"] == "requester")
    });
    let failure = deliveries(&env, &id, "notify_failed")[0].to_string();
    wait_for("History shows the failure", || {
        env.note(&id).contains("requester")
    });
    for text in [env.log(), env.note(&id), failure] {
        assert!(
            !text.contains("5ecr3t") && !text.contains("agent:"),
            "{text}"
        );
    }
}

#[test]
fn a_drop_in_named_with_link_syntax_gets_a_name_every_link_reaches() {
    let (url, hits) = hook(200);
    let mut env = Env::new(&format!("notify:\n{}", ntfy("phone", &url, "")));
    env.start();
    // `[[Safe note#x]]` would open the note `Safe note`, which the agent
    // can write too.
    std::fs::write(
        env.folder("Pending_Approval").join("Safe note.md"),
        "harmless\n",
    )
    .unwrap();
    let p = env.folder("Pending_Approval").join("Safe note#x.md");
    std::fs::write(&p, "---\naction: payment\namount: 7000\n---\n").unwrap();
    let id = crate::util::wait_for_some("the drop-in taken", || {
        env.journal()
            .iter()
            .find(|e| e["event"] == "submitted")
            .and_then(|e| e["request"].as_str().map(String::from))
    });
    let renamed = env
        .folder("Pending_Approval")
        .join(format!("Safe note-x-{id}.md"));
    wait_for("the note under its new name", || {
        std::fs::read_to_string(&renamed).is_ok_and(|t| t.contains(&id))
    });
    assert!(!p.exists());
    let page = crate::util::wait_for_some("the page listing it", || {
        std::fs::read_to_string(env.vault.join("Approvals.md"))
            .ok()
            .filter(|p| p.contains("payment"))
    });
    assert!(
        page.contains(&format!("| [[Safe note-x-{id}]] |")),
        "{page}"
    );
    let hit = wait_hit(&hits, |h| h.body.contains(&id));
    let link = format!("file=Pending_Approval%2FSafe%20note-x-{id}");
    assert!(hit.body.contains(&link), "{}", hit.body);
}

#[test]
fn a_decided_notice_links_the_note_in_its_month_not_a_path_the_agent_can_fill() {
    let (url, hits) = hook(200);
    let mut env = Env::new(&format!("notify:\n{}", ntfy("phone", &url, "")));
    env.start();
    let id = rejected(&env);
    let decided = wait_hit(&hits, |h| {
        h.body.contains(&id) && h.header("title").is_some_and(|t| t.starts_with("Decided"))
    });
    let actions = decided.header("actions").unwrap();
    let want = format!("file=Done%2F{}%2Fpayment-{id},", this_month());
    assert!(actions.contains(&want), "{actions}");
}

#[test]
fn a_hostile_summary_neither_breaks_nor_hides_dashboard_rows() {
    let mut env = Env::new("");
    env.start();
    let evil = "a | b |\n| [[Other]] | <!-- %% ![[x]] ` | c";
    let first = env.request(&["payment", "--set", "amount=1500", "--summary", evil]);
    let second = env.pay(2500);
    let page = crate::util::wait_for_some("both rows on the page", || {
        std::fs::read_to_string(env.vault.join("Approvals.md"))
            .ok()
            .filter(|p| p.contains(&second) && p.contains(&first))
    });
    let rows: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("| [[payment-"))
        .collect();
    assert_eq!(rows.len(), 2, "{page}");
    for row in rows {
        assert_eq!(row.matches('|').count(), 8, "{row}");
    }
    for hidden in ["<!--", "%%", "![[", "[[Other]]"] {
        assert!(!page.contains(hidden), "{hidden} in {page}");
    }
    assert!(page.contains("## Needs a look"), "{page}");
}
