//! The socket and the inbox are edges: nothing a caller chose (an id, a
//! path, an identity, a deadline past the rule's) takes effect, they can't
//! be exhausted, and nothing they acknowledged is lost.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::util::{Env, me, wait_for};

const PAYMENT: &str = r#"{"amount":1500,"recipient":"vendor@example.com"}"#;

/// Sends one raw line over the socket and reads the reply.
fn raw(env: &Env, line: &str) -> Value {
    let mut s = UnixStream::connect(env.state.join("hitl.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply:?}"))
}

fn submitted(env: &Env) -> Vec<Value> {
    env.journal()
        .into_iter()
        .filter(|e| e["event"] == "submitted")
        .collect()
}

/// Every file under the test's folder that is not in the vault or the
/// state folder, beside the harness's own.
fn strays(env: &Env) -> Vec<PathBuf> {
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
fn assert_capped(sub: &Value) {
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
fn forged_inbox_files_take_no_effect_and_a_fifo_does_not_stall() {
    let mut env = Env::new("");
    let inbox = env.state.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let outside = env.dir.path().join("outside.md");
    let files = [
        (
            "bad-id.json",
            format!(
                r#"{{"id":"../../x","command":{{"op":"submit","action":"payment","payload":{PAYMENT}}}}}"#
            ),
        ),
        (
            "file-name.json",
            format!(
                r#"{{"id":"a00000000001","command":{{"op":"submit","action":"payment","payload":{PAYMENT},"file_name":"../../outside.md"}}}}"#
            ),
        ),
        (
            "absolute.json",
            format!(
                r#"{{"id":"a00000000002","command":{{"op":"submit","action":"payment","payload":{PAYMENT},"file_name":"{}"}}}}"#,
                outside.display()
            ),
        ),
        (
            "source.json",
            format!(
                r#"{{"id":"a00000000003","command":{{"op":"submit","action":"payment","payload":{PAYMENT},"source":"cli","requested_by":"ceo"}}}}"#
            ),
        ),
        (
            "by.json",
            format!(
                r#"{{"id":"a00000000004","by":"ceo","command":{{"op":"submit","action":"payment","payload":{PAYMENT}}}}}"#
            ),
        ),
        (
            "old-format.json",
            format!(
                r#"{{"op":"submit","id":"a00000000005","action":"payment","payload":{PAYMENT},"requested_by":"ceo","source":"cli","timeout":null,"expires":null,"file_name":null,"summary":null,"rationale":null}}"#
            ),
        ),
        (
            "good.json",
            format!(
                r#"{{"id":"a00000000006","command":{{"op":"submit","action":"payment","payload":{PAYMENT},"expires":"2999-01-01T00:00:00Z","label":"bot"}}}}"#
            ),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(inbox.join(name), text).unwrap();
    }
    let fifo = std::ffi::CString::new(inbox.join("fifo.json").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/etc/passwd", inbox.join("link.json")).unwrap();
    env.start();
    env.wait_note("a00000000006", "Pending_Approval", "pending");
    let refused = [
        "bad-id",
        "file-name",
        "absolute",
        "source",
        "by",
        "old-format",
        "fifo",
        "link",
    ];
    for name in refused {
        let aside = inbox.join(format!("{name}.json.refused"));
        wait_for(&format!("{name} set aside"), || {
            std::fs::symlink_metadata(&aside).is_ok()
        });
        assert!(!inbox.join(format!("{name}.json")).exists());
    }
    assert!(env.log().contains("inbox file refused"), "{}", env.log());
    let subs = submitted(&env);
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["request"], "a00000000006");
    assert_capped(&subs[0]);
    assert_eq!(subs[0]["actor"], format!("{} (agent: bot)", me()));
    assert_eq!(subs[0]["details"]["source"], "inbox");
    wait_for("good entry removed", || !inbox.join("good.json").exists());
    assert_eq!(strays(&env), Vec::<PathBuf>::new());
    assert!(!outside.exists());
    // The daemon still answers: the FIFO stalled nothing.
    assert_eq!(env.hitl(&["status"]).0, 0);
}

#[test]
fn the_cli_writes_its_inbox_private_whoever_creates_the_state_folder() {
    let env = Env::new("");
    let (code, out, err) = env.hitl(&["request", "payment", "--payload", PAYMENT]);
    assert_eq!(code, 0, "{err}");
    let id = out.trim();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.state), 0o700);
    assert_eq!(mode(&env.state.join("inbox")), 0o700);
    assert_eq!(
        mode(&env.state.join("inbox").join(format!("{id}.json"))),
        0o600
    );
}

#[test]
fn an_inbox_file_that_survives_its_take_is_journaled_once() {
    let mut env = Env::new("");
    let (code, out, err) = env.hitl(&["request", "payment", "--payload", PAYMENT]);
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_string();
    let file = env.state.join("inbox").join(format!("{id}.json"));
    let entry = std::fs::read(&file).unwrap();
    env.start();
    env.wait_note(&id, "Pending_Approval", "pending");
    wait_for("inbox file removed", || !file.exists());
    env.stop();
    // A crash between the journal append and the removal leaves the file.
    std::fs::write(&file, &entry).unwrap();
    env.start();
    wait_for("inbox file taken again", || !file.exists());
    assert!(env.log().contains("already journaled"), "{}", env.log());
    assert_eq!(env.events(&id), ["submitted"]);
    assert_eq!(submitted(&env).len(), 1);
    let notes = std::fs::read_dir(env.folder("Pending_Approval"))
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(&id)))
        .count();
    assert_eq!(notes, 1);
    // `hitl wait` knows the id the CLI printed.
    let (code, _, err) = env.hitl(&["wait", &id, "--timeout", "1s"]);
    assert_eq!(code, 7, "{err}");
}

#[test]
fn an_inbox_entry_is_journaled_before_a_large_vault_is_read() {
    let mut env = Env::new("");
    let pending = env.folder("Pending_Approval");
    std::fs::create_dir_all(&pending).unwrap();
    let notes = 300;
    for i in 0..notes {
        std::fs::write(
            pending.join(format!("drop-{i}.md")),
            format!(
                "---\naction: payment\namount: {}\nrecipient: r{i}\n---\n",
                600 + i
            ),
        )
        .unwrap();
    }
    let (code, out, err) = env.hitl(&["request", "payment", "--payload", PAYMENT]);
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_string();
    let file = env.state.join("inbox").join(format!("{id}.json"));
    // Crash the daemon as soon as the inbox file is gone, most likely while
    // it is still reading the vault: the request must be in the journal.
    let mut daemon = env
        .cmd()
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while file.exists() {
        assert!(Instant::now() < deadline, "the inbox entry was never taken");
        std::thread::sleep(Duration::from_millis(1));
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert_eq!(env.events(&id), ["submitted"]);
    env.start();
    wait_for("every drop-in journaled", || {
        submitted(&env).len() == notes + 1
    });
    let subs = submitted(&env);
    let mine = subs.iter().find(|s| s["request"] == id.as_str()).unwrap();
    let time = |s: &Value| {
        s["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    // Its own append, before the vault's notes were read.
    assert!(
        subs.iter()
            .all(|s| s["request"] == id.as_str() || time(s) > time(mine)),
        "the inbox entry was journaled with the vault's notes"
    );
    assert_eq!(env.events(&id), ["submitted"]);
}

/// Reads the daemon's resident memory, in kB.
fn rss_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn raise_own_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[test]
fn idle_connections_and_a_huge_line_do_not_lock_out_the_socket() {
    raise_own_fd_limit();
    let (env, id) = Env::with_pending_payment();
    // Fewer file descriptors than idle connections: only closing the
    // oldest idle ones keeps the daemon's hands free.
    set_fd_limit(env.pid(), 512);
    let sock = env.state.join("hitl.sock");
    let idle: Vec<UnixStream> = (0..2000)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    let huge = {
        let sock = sock.clone();
        std::thread::spawn(move || {
            let mut s = UnixStream::connect(sock).unwrap();
            let chunk = vec![b'x'; 1024 * 1024];
            let mut sent = 0usize;
            for _ in 0..100 {
                if s.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
            sent
        })
    };
    let start = Instant::now();
    let (code, _, err) = env.hitl(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "status took {:?}",
        start.elapsed()
    );
    let sent = huge.join().unwrap();
    assert!(sent < 100 * 1024 * 1024, "the daemon read a 100 MB line");
    let start = Instant::now();
    env.edit(&id, |t| t.replace("- [ ] Approve", "- [x] Approve"));
    wait_for("tick journaled", || {
        env.events(&id).contains(&"approved".to_string())
    });
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "tick took {:?}",
        start.elapsed()
    );
    let start = Instant::now();
    assert_eq!(env.hitl(&["status"]).0, 0);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "status took {:?}",
        start.elapsed()
    );
    let rss = rss_kb(env.pid());
    assert!(rss < 100 * 1024, "daemon RSS {rss} kB");
    drop(idle);
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

/// The daemon's CPU time so far, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Sets the soft limit on a process's open files (the hard one stays, so
/// it can be raised again without privileges).
fn set_fd_limit(pid: i32, n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let null = std::ptr::null_mut();
    assert_eq!(
        unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut lim) },
        0
    );
    lim.rlim_cur = n.min(lim.rlim_max);
    assert_eq!(
        unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &lim, null) },
        0
    );
}

#[test]
fn accept_failures_back_off_instead_of_spinning() {
    let (env, id) = Env::with_pending_payment();
    let pid = env.pid();
    let fds: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().parse().unwrap())
        .collect();
    // One file descriptor left (a few more if the daemon had one open for a
    // moment): `hitl wait`s, which can't be closed to make room, take them,
    // and the rest wait in the backlog.
    let lowest_free = (0..).find(|n| !fds.contains(n)).unwrap();
    set_fd_limit(pid, lowest_free + 1);
    let sock = env.state.join("hitl.sock");
    let waits: Vec<UnixStream> = (0..10)
        .map(|_| {
            let mut s = UnixStream::connect(&sock).unwrap();
            s.write_all(format!("{{\"op\":\"wait\",\"id\":\"{id}\"}}\n").as_bytes())
                .unwrap();
            s
        })
        .collect();
    wait_for("first accept failure", || {
        env.log().contains("pause_ms=10\n")
    });
    let (t0, cpu0) = (Instant::now(), cpu_ticks(pid));
    wait_for("the pause grows", || env.log().contains("pause_ms=640\n"));
    let (wall, cpu) = (t0.elapsed(), cpu_ticks(pid) - cpu0);
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    assert!(
        (cpu as f64 / hz) < wall.as_secs_f64() / 2.0,
        "{cpu} ticks of CPU in {wall:?}: the accept loop spins"
    );
    drop(waits);
    set_fd_limit(pid, 1024);
    let (code, _, err) = env.hitl(&["status"]);
    assert_eq!(code, 0, "the socket did not recover: {err}");
}
