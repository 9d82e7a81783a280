//! The scanner's readings ([`fast_line`], [`fast_submitted`]) against
//! serde's, on lines the journal's own writer makes from events of every
//! kind, with texts that need escapes and some that don't.

use proptest::prelude::*;

use super::*;
use crate::journal::encode_line;
use crate::journal::key::Chain;
use crate::request::{Signal, Source, Submission};
use crate::rules::Risk;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9:._-]{0,16}",
        1 => any::<String>(),
        1 => "[\"\\\\/\u{0}-\u{1f}a-z\u{e9}\u{1F600}]{0,8}",
    ]
}

fn maybe() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn time() -> impl Strategy<Value = Timestamp> {
    (0i64..4_000_000_000, 0i32..1_000_000_000)
        .prop_map(|(s, n)| Timestamp::new(s, n).expect("in range"))
}

fn gesture() -> impl Strategy<Value = Gesture> {
    prop_oneof![
        Just(Gesture::CommandLine),
        Just(Gesture::Queued),
        Just(Gesture::Rule),
        text().prop_map(Gesture::Named),
    ]
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        Just(Actor::Hitl),
        Just(Actor::Vault),
        text().prop_map(Actor::Named),
    ]
}

fn payload() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1e9f64..1e9).prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn risk() -> impl Strategy<Value = Risk> {
    prop_oneof![Just(Risk::Low), Just(Risk::Medium), Just(Risk::High)]
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![Just(Source::Cli), Just(Source::Inbox), Just(Source::DropIn)]
}

prop_compose! {
    fn submission()(
        action in text(), payload in payload(), payload_sha256 in text(),
        summary in text(), rationale in maybe(), requested_by in text(),
        created in time(), expires in time(), risk in risk(),
        says in text(), rule in maybe(), file_name in text(), source in source(),
        drop_in_sha256 in maybe(), notify_requester in maybe(), key in maybe(),
    ) -> Submission {
        Submission {
            action, payload: payload.into(), payload_sha256, summary, rationale, requested_by,
            created, expires, risk, signals: vec![Signal { level: risk, says }],
            rule, file_name, source, drop_in_sha256, notify_requester, key,
        }
    }
}

fn run() -> impl Strategy<Value = RunResult> {
    (
        proptest::option::of(any::<i32>()),
        any::<u64>(),
        text(),
        any::<bool>(),
        maybe(),
    )
        .prop_map(
            |(exit_code, duration_ms, output, truncated, error)| RunResult {
                exit_code,
                duration_ms,
                output,
                truncated,
                error,
            },
        )
}

fn kind() -> impl Strategy<Value = EventKind> {
    use EventKind as E;
    prop_oneof![
        submission().prop_map(|s| E::Submitted(Box::new(s))),
        (maybe(), gesture(), any::<bool>()).prop_map(|(reason, gesture, runs_handler)| {
            E::Approved {
                reason,
                gesture,
                runs_handler,
            }
        }),
        (maybe(), gesture()).prop_map(|(reason, gesture)| E::Rejected { reason, gesture }),
        Just(E::Expired),
        maybe().prop_map(E::Cancelled),
        (maybe(), prop::collection::vec(text(), 0..3)).prop_map(|(found_sha256, changed)| {
            E::Tampered {
                found_sha256,
                changed,
            }
        }),
        prop::collection::vec(text(), 0..3).prop_map(|command| E::Executing { command }),
        run().prop_map(E::Executed),
        run().prop_map(E::Failed),
        text().prop_map(|why| E::Unknown { why }),
        (any::<bool>(), text()).prop_map(|(executed, reason)| E::Resolved { executed, reason }),
        (any::<u64>(), maybe()).prop_map(|(legacy_events, legacy_head_sha256)| {
            E::JournalKeyed {
                legacy_events,
                legacy_head_sha256,
            }
        }),
        (
            text(),
            gesture(),
            proptest::option::of(any::<u64>()),
            any::<u32>()
        )
            .prop_map(|(approver, gesture, totp_step, of)| E::Endorsed {
                approver,
                gesture,
                totp_step,
                of
            }),
        (gesture(), any::<u32>()).prop_map(|(gesture, count)| E::WrongCode { gesture, count }),
        time().prop_map(|until| E::Held { until }),
        (maybe(), gesture(), any::<bool>()).prop_map(|(reason, gesture, cancelled)| {
            E::Revoked {
                reason,
                gesture,
                cancelled,
            }
        }),
        text().prop_map(|folder| E::Filed { folder }),
        (text(), text(), any::<u32>()).prop_map(|(channel, event, attempts)| E::Notified {
            channel,
            event,
            attempts
        }),
        (text(), text(), any::<u32>(), text()).prop_map(|(channel, event, attempts, error)| {
            E::NotifyFailed {
                channel,
                event,
                attempts,
                error,
            }
        }),
        Just(E::Reminded),
        (any::<u64>(), text(), text(), maybe()).prop_map(|(seq, mac, channel, error)| {
            E::Anchored {
                seq,
                mac,
                channel,
                error,
            }
        }),
    ]
}

prop_compose! {
    fn event()(time in time(), request in text(), actor in actor(), kind in kind()) -> Event {
        Event { time, request, actor, kind }
    }
}

/// `line`'s body as a checked line's ([`crate::journal::Line::body`]):
/// `None` unless it ends as the chain check requires.
pub(super) fn body(line: &str) -> Option<&str> {
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let cut = line.len().checked_sub(75 + 74)?;
    let (body, tail) = (line.get(..cut)?, &line[cut..]);
    let rest = tail.strip_prefix(",\"prev\":\"")?;
    let (prev, rest) = rest.split_at_checked(64)?;
    let hash = rest.strip_prefix("\",\"hash\":\"")?.strip_suffix("\"}")?;
    (hex(prev) && hex(hash)).then_some(body)
}

/// Whether serde writes `s` as it is (no escape).
fn plain(s: &str) -> bool {
    !s.chars().any(|c| c == '"' || c == '\\' || c < ' ')
}

fn line_of(ev: &Event, seq: u64) -> String {
    let chain = Chain::keyed(&[7; 32]);
    encode_line(&chain, seq, &"0".repeat(64), ev)
}

/// Whether the scanner must read `ev`'s submission itself: every field it
/// returns is written without escapes.
fn plain_submission(ev: &Event) -> bool {
    let EventKind::Submitted(s) = &ev.kind else {
        return false;
    };
    [&s.action, &s.payload_sha256, &s.requested_by, &s.file_name]
        .into_iter()
        .chain(s.drop_in_sha256.as_ref())
        .chain(s.key.as_ref())
        .all(|t| plain(t))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_scanners_skeleton_of_any_written_line_is_serdes(ev in event(), seq in 1u64..u64::MAX) {
        let line = line_of(&ev, seq);
        let slow: Result<Line, _> = serde_json::from_str(&line);
        let fast = fast_line(&line);
        let submission = matches!(ev.kind, EventKind::Submitted(_));
        if plain(&ev.request) && !submission {
            prop_assert!(fast.is_some(), "the scanner gave up on {}", line);
        }
        if let Some(fast) = fast {
            prop_assert_eq!(Some(fast), slow.ok(), "{}", line);
        }
    }

    #[test]
    fn the_scanners_brief_of_any_written_line_is_serdes(ev in event(), seq in 1u64..u64::MAX) {
        let line = line_of(&ev, seq);
        let slow: Result<SubmittedLine, _> = serde_json::from_str(&line);
        let fast = fast_submitted(&line);
        if plain(&ev.request) && plain_submission(&ev) {
            prop_assert!(fast.is_some(), "the scanner gave up on {}", line);
        }
        if let Some(fast) = fast {
            prop_assert_eq!(Some(fast), slow.ok(), "{}", line);
        }
    }

    #[test]
    fn the_scanner_never_reads_an_edited_line_serde_refuses(
        ev in event(), cut in any::<prop::sample::Index>(), byte in any::<u8>(),
    ) {
        // A line changed anywhere (one byte): where serde refuses it the
        // scanner must not answer, and where both answer they agree.
        let mut bytes = line_of(&ev, 1).into_bytes();
        let i = cut.index(bytes.len());
        bytes[i] = byte;
        let Ok(line) = String::from_utf8(bytes) else { return Ok(()) };
        let slow: Result<Line, _> = serde_json::from_str(&line);
        if let Some(fast) = fast_line(&line) {
            prop_assert_eq!(Some(fast), slow.ok(), "{}", line);
        }
        let slow: Result<SubmittedLine, _> = serde_json::from_str(&line);
        if let Some(fast) = fast_submitted(&line) {
            prop_assert_eq!(Some(fast), slow.ok(), "{}", line);
        }
    }
}

#[test]
fn lines_the_scanner_is_unsure_of_are_read_by_serde_with_its_errors() {
    let t = "\"time\":\"2026-11-20T08:00:00Z\"";
    let ends = format!(",\"prev\":\"{z}\",\"hash\":\"{z}\"}}", z = "0".repeat(64));
    for (head, want_fast) in [
        (
            format!("{{{t},\"request\":\"a1\",\"event\":\"expired\""),
            true,
        ),
        (
            format!("{{{t}, \"request\":\"a1\",\"event\":\"expired\""),
            false,
        ),
        (
            format!("{{{t},\"request\":\"a\\u0031\",\"event\":\"expired\""),
            false,
        ),
        (
            format!("{{{t},{t},\"request\":\"a1\",\"event\":\"expired\""),
            false,
        ),
        (
            format!("{{{t},\"request\":\"a1\",\"event\":\"expired\"]"),
            false,
        ),
        (
            format!(
                "{{{t},\"request\":\"a1\",\"event\":\"approved\",\"details\":{{\"runs_handler\":1}}"
            ),
            false,
        ),
        (
            format!("{{{t},\"request\":\"a1\",\"event\":\"approved\",\"details\":[]"),
            false,
        ),
        (format!("{{{t},\"request\":1,\"event\":\"expired\""), false),
    ] {
        let line = format!("{head}{ends}");
        assert_eq!(fast_line(&line).is_some(), want_fast, "{line}");
        let slow: Result<Line, _> = serde_json::from_str(&line);
        assert_eq!(read(&line, &head).is_ok(), slow.is_ok(), "{line}");
    }
}
