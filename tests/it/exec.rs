//! Handler runs end to end: no process a handler started outlives its run
//! (on timeout, at shutdown, after a normal exit), output shown safely in
//! the note, and rules that fail closed on fields they can't read.

use super::util;

use std::path::Path;

use util::{Env, wait_for, wait_for_some};

/// A handler that starts three grandchildren and writes their pids to
/// `<dir>/<request id>/`: one that ignores SIGTERM (in the handler's group),
/// one that leaves the group and session with `setsid` and is orphaned to
/// the daemon, and the same with an empty environment, so nothing names its
/// run. With `LEADER=exit` the handler then exits 0; otherwise it waits.
const STICKY: &str = r#"#!/bin/sh
d="$1/$HITL_REQUEST_ID"
mkdir -p "$d"
sh -c 'trap "" TERM; echo $$ > "$1/term.tmp"; mv "$1/term.tmp" "$1/term.pid"; exec sleep 60' sh "$d" &
setsid -f sh -c 'echo $$ > "$1/setsid.tmp"; mv "$1/setsid.tmp" "$1/setsid.pid"; exec sleep 60' sh "$d"
env -i /usr/bin/setsid -f /bin/sh -c 'echo $$ > "$1/bare.tmp"; /bin/mv "$1/bare.tmp" "$1/bare.pid"; exec /bin/sleep 60' sh "$d"
while [ ! -e "$d/term.pid" ] || [ ! -e "$d/setsid.pid" ] || [ ! -e "$d/bare.pid" ]; do sleep 0.05; done
echo started
[ "$LEADER" = exit ] && exit 0
wait
"#;

const GRANDCHILDREN: [&str; 3] = ["term.pid", "setsid.pid", "bare.pid"];

/// A daemon whose config adds the `sticky` handlers and `rules`, with a
/// short shutdown grace.
fn sticky_env() -> Env {
    let env = Env::new("");
    let script = env.dir.path().join("sticky.sh");
    std::fs::write(&script, STICKY).unwrap();
    let (s, d) = (script.display(), env.dir.path().display());
    // Indented: these continue the test handlers' `handlers:` map.
    env.set_config(&format!(
        "  sticky: {{ command: [/bin/sh, {s}, {d}], timeout: 5s }}\n  sticky_exit: {{ command: [/bin/sh, {s}, {d}], env: {{ LEADER: exit }} }}\n  sticky_long: {{ command: [/bin/sh, {s}, {d}], timeout: 60s }}\nshutdown_grace: 1s\nrules:\n  - {{ name: sticky, when: {{ type: \"sticky*\" }}, decision: auto }}\n"
    ));
    env
}

/// The grandchildren's pids, once all are written.
fn grandchildren(env: &Env, id: &str) -> Vec<i32> {
    let dir = env.dir.path().join(id);
    wait_for_some("the grandchildren's pid files", || {
        GRANDCHILDREN
            .iter()
            .map(|f| read_pid(&dir.join(f)))
            .collect()
    })
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Gone altogether: not even a zombie waiting to be reaped.
fn gone(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

fn assert_all_gone(env: &Env, id: &str, pids: &[i32]) {
    for (pid, name) in pids.iter().zip(GRANDCHILDREN) {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            gone(*pid),
            "{name} {pid} outlived request {id}'s recorded result: {stat}\n{}",
            env.log()
        );
    }
}

/// Waits for the request's result event; the processes must be gone by
/// then, so they are checked at once, without waiting.
fn result_then_gone(env: &Env, id: &str, event: &str) {
    wait_for(event, || env.events(id).iter().any(|e| e == event));
    let pids = grandchildren(env, id);
    assert_all_gone(env, id, &pids);
}

#[test]
fn handler_timeout_ends_grandchildren_that_ignore_sigterm_or_left_with_setsid() {
    let mut env = sticky_env();
    env.start();
    let id = env.request(&["sticky"]);
    grandchildren(&env, &id);
    result_then_gone(&env, &id, "failed");
    let note = env.wait_note(&id, "Done", "failed");
    assert!(note.contains("timed out after"), "{note}");
}

#[test]
fn daemon_shutdown_ends_grandchildren_that_ignore_sigterm_or_left_with_setsid() {
    let mut env = sticky_env();
    env.start();
    let id = env.request(&["sticky_long"]);
    let pids = grandchildren(&env, &id);
    env.stop();
    assert!(
        env.events(&id).iter().any(|e| e == "unknown"),
        "{:?}",
        env.events(&id)
    );
    assert_all_gone(&env, &id, &pids);
}

#[test]
fn processes_a_handler_leaves_behind_when_it_exits_are_ended() {
    let mut env = sticky_env();
    env.start();
    let id = env.request(&["sticky_exit"]);
    result_then_gone(&env, &id, "executed");
    let note = env.wait_note(&id, "Done", "executed");
    assert!(
        note.contains("process(es) behind; hitl ended them"),
        "{note}"
    );
}

#[test]
fn control_characters_in_handler_output_are_made_visible_in_the_note() {
    let mut env = Env::new(concat!(
        // Indented: continues the test handlers' `handlers:` map.
        "  noisy: { command: [/usr/bin/printf, \"plain\\\\033[2J\\\\033[31mred\\\\000nul\\\\rcr\\\\tok\\\\n\"] }\n",
        "rules:\n  - { name: noisy, when: { type: noisy }, decision: auto }\n",
    ));
    env.start();
    let id = env.request(&["noisy"]);
    let note = env.wait_note(&id, "Done", "executed");
    assert!(
        note.contains("plain\u{241b}[2J\u{241b}[31mred\u{2400}nul\u{240d}cr\tok"),
        "{note:?}"
    );
    assert!(!note.contains(['\x1b', '\0', '\r']), "{note:?}");
}

/// The rules from the design's example, the default `require`.
const DESIGN_RULES: &str = include_str!("../fixtures/design-rules.yaml");

#[test]
fn unreadable_amounts_need_a_human_and_the_note_says_why() {
    let mut env = Env::new(DESIGN_RULES);
    env.start();
    // A small readable amount is approved by `small-payment` and runs: the
    // same rules would let the unreadable ones through if they were false.
    let small = env.request(&["payment", "--payload", r#"{"amount":5}"#]);
    env.wait_note(&small, "Done", "executed");
    let cases = [
        (
            r#"{"amount":"50,000"}"#,
            r#""50,000" is not a plain number"#,
        ),
        (
            r#"{"amount":"$50000"}"#,
            r#""$50000" is not a plain number"#,
        ),
        (r#"{"amount":"NaN"}"#, r#""NaN" is not a plain number"#),
        (r#"{"amount":[50000]}"#, "it is a list"),
        (r#"{"amount":{"usd":50000}}"#, "it is an object"),
        (r#"{"recipient":"x"}"#, "it is missing"),
    ];
    for (payload, why) in cases {
        let id = env.request(&["payment", "--payload", payload]);
        // As Obsidian shows it: requester text comes as HTML entities.
        let note = decode_entities(&env.wait_note(&id, "Pending_Approval", "pending"));
        let signal = format!("`amount` could not be read: {why}");
        assert!(note.contains(&signal), "{payload}: {note}");
        assert!(
            note.contains("rule `huge-payment`, rule `large-payment`"),
            "{note}"
        );
        assert!(note.contains("risk: high"), "{payload}: {note}");
        assert_eq!(env.events(&id), ["submitted"], "{payload}");
        let (code, out, err) = env.hitl(&["explain", "payment", "--payload", payload]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(&signal), "{out}");
        assert!(
            out.contains("rule `small-payment` would approve, but a rule before it could not be evaluated: require"),
            "{out}"
        );
    }
    assert_eq!(env.runs().len(), 1, "only the small payment ran");
}

/// Numeric HTML entities (`&#36;`) decoded, as a Markdown viewer shows them.
fn decode_entities(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("&#") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find(';').and_then(|end| {
            let c = char::from_u32(after[..end].parse().ok()?)?;
            Some((c, end))
        }) {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("&#");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
