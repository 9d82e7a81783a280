//! Notices from journaled events, and their events' replay.
use std::collections::BTreeMap;

use super::*;
use crate::request::apply;

fn ev(kind: EventKind) -> Event {
    Event {
        time: "2026-11-26T05:00:00Z".parse().unwrap(),
        request: "c3adb486466f".into(),
        actor: Actor::Hitl,
        kind,
    }
}

fn submitted() -> Event {
    let line = r#"{"action":"payment","payload":{},"payload_sha256":"x","summary":"s","requested_by":"cli:a","created":"2026-11-26T05:00:00Z","expires":"2026-11-26T06:00:00Z","risk":"high","signals":[],"rule":null,"file_name":"p.md","source":"cli"}"#;
    ev(EventKind::Submitted(Box::new(
        serde_json::from_str(line).unwrap(),
    )))
}

#[test]
fn notification_events_replay_after_any_state_and_show_in_history() {
    let mut requests = BTreeMap::new();
    let failed = EventKind::NotifyFailed {
        channel: "phone".into(),
        event: "decided".into(),
        attempts: 5,
        error: "POST https://n.example/t: HTTP 500".into(),
    };
    let journaled = serde_json::to_value(&failed).unwrap();
    for e in [
        submitted(),
        ev(EventKind::Reminded),
        ev(EventKind::Cancelled(None)),
        ev(failed),
    ] {
        apply(&mut requests, &e).unwrap();
    }
    let req = &requests["c3adb486466f"];
    assert!(matches!(req.status, Status::Cancelled { .. }));
    let history: Vec<&str> = req.history.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(history[1], "reminder sent: the deadline is near");
    assert_eq!(
        history[3],
        "notification on phone failed (decided, 5 attempts): POST https://n.example/t: HTTP 500"
    );
    // The journal's form: the fields `dash` reads.
    assert_eq!(journaled["event"], "notify_failed");
    assert_eq!(journaled["details"]["channel"], "phone");
    assert_eq!(journaled["details"]["attempts"], 5);
}

#[test]
fn a_rule_decided_request_is_told_only_when_its_run_goes_wrong() {
    let mut requests = BTreeMap::new();
    apply(&mut requests, &submitted()).unwrap();
    let mut approved = ev(EventKind::Approved {
        reason: None,
        gesture: crate::request::Gesture::Rule,
        runs_handler: true,
    });
    approved.actor = Actor::Rule("small".into());
    apply(&mut requests, &approved).unwrap();
    let req = requests["c3adb486466f"].clone();
    assert_eq!(notice_kind(&req, &submitted()), None);
    assert_eq!(notice_kind(&req, &approved), None);
    let unknown = ev(EventKind::Unknown { why: "lost".into() });
    assert_eq!(
        notice_kind(&req, &unknown).map(|(k, _)| k),
        Some(NoticeKind::Result)
    );
}

#[tokio::test]
async fn errors_journaled_never_hold_a_channel_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "tok-known-secret-55\n").unwrap();
    let yaml = format!(
        "notify:\n  - {{ name: phone, kind: webhook, url: \"https://n.example/t\", token_file: {} }}\n",
        file.display()
    );
    let config = crate::config::Config::parse(&yaml, "c.yaml").unwrap();
    let notices = Notices::start(&config.notify, &[], dir.path());
    let error = "server said: bad token tok-known-secret-55 (tok-known-secret-55)";
    assert_eq!(
        notices.scrub(error),
        "server said: bad token <hidden> (<hidden>)"
    );
}

#[tokio::test]
async fn a_full_queue_never_blocks_and_comes_back_as_a_failure_to_journal() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        queue: 1,
        ..Options::default()
    };
    let mut notices = Notices::with_options(&NotifyConfig::default(), &[], dir.path(), opts);
    let (n, _) = crate::notify::text::fixed();
    // The delivery task can't run before this test yields: the second
    // notice finds the queue full.
    notices.queue(Job::Notice(Box::new(n.clone())));
    notices.queue(Job::Notice(Box::new(n.clone())));
    assert_eq!(notices.dropped, 1);
    let o = notices.outcomes.recv().await.unwrap();
    assert_eq!(
        (o.channel.as_str(), o.event.as_str(), o.attempts),
        ("queue", "pending", 0)
    );
    assert_eq!(o.ids, [n.id]);
    assert_eq!(o.error.as_deref(), Some("the notification queue was full"));
}
