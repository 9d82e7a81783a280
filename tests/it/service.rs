//! Running as a service: systemd notifications, signals, reload, one
//! instance, crash recovery, journal damage, the vault going away, lost
//! events, status. Real signals to the real binary.

use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use super::util::{self, BIN, Env, crashed_while_running, me, wait_for};

/// Reads datagrams until one contains `want` (or fails after 10 s).
fn expect_msg(sock: &UnixDatagram, seen: &mut Vec<String>, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    loop {
        if let Some(m) = seen.iter().find(|m| m.contains(want)) {
            let m = m.clone();
            seen.retain(|x| *x != m);
            return m;
        }
        assert!(Instant::now() < deadline, "no {want:?} among {seen:?}");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

#[test]
fn notifies_systemd() {
    let mut env = Env::new("");
    let path = env.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    env.start_env(&[
        ("NOTIFY_SOCKET", path.to_str().unwrap()),
        ("WATCHDOG_USEC", "400000"),
    ]);
    let mut seen = Vec::new();
    let ready = expect_msg(&sock, &mut seen, "READY=1");
    assert!(ready.contains("STATUS=0 open requests"), "{ready}");
    expect_msg(&sock, &mut seen, "WATCHDOG=1");
    expect_msg(&sock, &mut seen, "WATCHDOG=1");
    env.pay(1500);
    let one = expect_msg(&sock, &mut seen, "STATUS=1 open request");
    assert!(!one.contains("STATUS=1 open requests"), "{one}");
    env.signal(libc::SIGHUP);
    let reloading = expect_msg(&sock, &mut seen, "RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    expect_msg(&sock, &mut seen, "READY=1");
    env.stop();
    expect_msg(&sock, &mut seen, "STOPPING=1");
}

#[test]
fn service_install_writes_a_valid_unit() {
    let env = Env::new("");
    let xdg = env.dir.path().join("xdg");
    let out = env
        .cmd()
        .env("XDG_CONFIG_HOME", &xdg)
        .args(["service", "install"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("loginctl enable-linger"), "{stdout}");
    let unit_path = xdg.join("systemd/user/hitl.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let exec = format!("ExecStart={BIN} run --vault {}", env.vault.display());
    assert!(unit.contains(&exec), "{unit}");
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "WatchdogSec=",
        "NoNewPrivileges=yes",
        "UMask=0077",
    ] {
        assert!(unit.contains(line), "{line}");
    }
    if let Ok(v) = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .output()
    {
        let err = String::from_utf8_lossy(&v.stderr);
        assert!(
            v.status.success() && !err.contains("hitl.service"),
            "systemd-analyze verify: {err}"
        );
    }
}

#[test]
fn sigterm_lets_a_quick_handler_finish_and_exits_zero() {
    let mut env = Env::new("shutdown_grace: 10s\n");
    env.start();
    let id = env.request(&["slow"]);
    env.hitl(&["approve", &id]);
    wait_for("handler started", || env.runs().len() == 1);
    env.stop(); // asserts exit status 0
    assert_eq!(
        env.events(&id),
        ["submitted", "approved", "executing", "executed"]
    );
}

#[test]
fn sigterm_past_the_grace_ends_the_handler_as_unknown() {
    let mut env = Env::new("shutdown_grace: 500ms\n");
    env.start();
    let id = env.request(&["slow"]);
    env.hitl(&["approve", &id]);
    wait_for("handler started", || env.runs().len() == 1);
    let t = Instant::now();
    env.stop();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stopped in {:?}",
        t.elapsed()
    );
    assert_eq!(
        env.events(&id),
        ["submitted", "approved", "executing", "unknown"]
    );
    let note = env.note(&id);
    assert!(
        note.contains("status: unknown") && note.contains("hitl resolve"),
        "{note}"
    );
    env.start();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.runs().len(), 1, "never re-run by itself");
    assert_eq!(env.hitl(&["wait", &id]).0, 6);
}

#[test]
fn sighup_reloads_a_valid_config_and_refuses_an_invalid_one() {
    let mut env = Env::new("");
    env.start();
    let open = env.request(&["email"]);
    env.set_config("rules:\n  - { name: mail-is-fine, when: { type: email }, decision: auto }\n");
    env.signal(libc::SIGHUP);
    wait_for("reloaded", || env.log().contains("config reloaded"));
    let auto = env.request(&["email"]);
    env.wait_note(&auto, "Done", "approved");
    env.wait_note(&open, "Pending_Approval", "pending");
    env.set_config("rules:\n  - { name: broken, when: { type: email }\n    decision: deny\n");
    env.signal(libc::SIGHUP);
    wait_for("refused", || env.log().contains("config reload refused"));
    let log = env.log();
    let config = env.config.display().to_string();
    assert!(
        log.lines()
            .any(|l| l.contains("reload refused") && l.contains(&format!("{config}:"))),
        "{log}"
    );
    let still_auto = env.request(&["email"]);
    env.wait_note(&still_auto, "Done", "approved");
}

#[test]
fn one_daemon_per_state_folder_and_stale_locks_do_not_block() {
    let mut env = Env::new("");
    env.start();
    let out = env.cmd().arg("run").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("pid {}", env.pid())), "{err}");
    env.kill9();
    env.start();
}

#[test]
fn crash_during_a_handler_ends_unknown_and_is_not_rerun() {
    let (mut env, id) = crashed_while_running("slow");
    env.start();
    let note = env.wait_note(&id, "Pending_Approval", "unknown");
    assert!(
        note.contains("hitl stopped while the handler was running"),
        "{note}"
    );
    assert!(
        note.contains(&format!("hitl resolve {id} --executed|--failed")),
        "{note}"
    );
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(env.runs().len(), 1);
    let (code, _, err) = env.hitl(&[
        "resolve",
        &id,
        "--failed",
        "--reason",
        "the bank shows no transfer",
    ]);
    assert_eq!(code, 0, "{err}");
    let note = env.wait_note(&id, "Done", "failed");
    assert!(note.contains("the bank shows no transfer"));
    assert_eq!(env.events(&id).last().map(String::as_str), Some("resolved"));
}

#[test]
fn crash_during_an_idempotent_handler_reruns_it_once_with_the_same_key() {
    let (mut env, id) = crashed_while_running("slow_idem");
    env.start();
    env.wait_note(&id, "Done", "executed");
    let runs = env.runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let key = |r: &str| r.split('|').nth(2).unwrap().to_string();
    assert_eq!(key(&runs[0]), key(&runs[1]));
    assert_eq!(
        env.events(&id),
        [
            "submitted",
            "approved",
            "executing",
            "unknown",
            "executing",
            "executed"
        ]
    );
}

#[test]
fn torn_last_line_is_cut_and_other_damage_stops_the_daemon() {
    let mut env = Env::new("");
    env.start();
    let a = env.pay(1500);
    let b = env.pay(1500);
    env.stop();
    let path = env.state.join("journal.jsonl");
    let full = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - 30]).unwrap();
    env.start();
    assert!(env.log().contains("torn"), "{}", env.log());
    env.wait_note(&a, "Pending_Approval", "pending");
    assert_eq!(
        env.events(&b),
        Vec::<String>::new(),
        "the torn event is gone, not half-read"
    );
    env.stop();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("payment", "refund", 1)).unwrap();
    let out = env.cmd().arg("run").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 1") && err.contains("Restore journal.jsonl"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text.replacen("payment", "refund", 1),
        "nothing cut"
    );
}

#[test]
fn vault_goes_away_and_comes_back() {
    let (env, id) = Env::with_pending_payment();
    let away = env.dir.path().join("vault-away");
    std::fs::rename(&env.vault, &away).unwrap();
    wait_for("noticed", || env.log().contains("the vault is unavailable"));
    let note = away
        .join("Pending_Approval")
        .join(format!("payment-{id}.md"));
    let text = std::fs::read_to_string(&note).unwrap();
    std::fs::write(&note, text.replace("status: pending", "status: approved")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(env.hitl(&["status"]).0, 0, "still running");
    std::fs::rename(&away, &env.vault).unwrap();
    env.wait_note(&id, "Done", "executed");
    assert_eq!(
        env.log().matches("the vault is unavailable").count(),
        1,
        "logged once"
    );
}

/// Lowers the kernel's inotify queue for the daemon started while it lives
/// (the limit is read when the watch is created), where the test may.
struct SmallInotifyQueue(Option<String>);

const QUEUE: &str = "/proc/sys/fs/inotify/max_queued_events";

impl SmallInotifyQueue {
    fn new() -> SmallInotifyQueue {
        let old = std::fs::read_to_string(QUEUE).ok();
        let lowered = old.is_some() && std::fs::write(QUEUE, "64").is_ok();
        SmallInotifyQueue(old.filter(|_| lowered))
    }
}

impl Drop for SmallInotifyQueue {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            std::fs::write(QUEUE, old.trim()).unwrap();
        }
    }
}

#[test]
fn a_burst_of_file_events_loses_no_decision() {
    let mut env = Env::new("");
    let small = SmallInotifyQueue::new();
    env.start();
    let lowered = small.0.is_some();
    drop(small);
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    let pending = env.folder("Pending_Approval");
    // The daemon is stopped (SIGSTOP) while the burst is made, so its reader
    // surely falls behind and the kernel's queue overflows (60,000 events,
    // more than even the default 16,384); a reader that kept up would make
    // this test prove nothing.
    let signal = |sig: &str| {
        let pid = env.pid().to_string();
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    signal("-STOP");
    let n = 20_000;
    for i in 0..n {
        std::fs::write(pending.join(format!("noise-{i}.txt")), "x").unwrap();
        if i == n / 2 {
            env.edit(&id, |t| t.replace("status: pending", "status: approved"));
        }
    }
    signal("-CONT");
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
    assert!(
        env.log().contains("queue overflowed; reconciling"),
        "lowered queue: {lowered}\n{}",
        env.log()
    );
}

#[test]
fn status_reports_the_daemon() {
    let mut env = Env::new("");
    let (code, out, _) = env.hitl(&["status", "--json"]);
    assert_eq!(code, 1);
    assert!(out.contains("\"running\":false"));
    env.start();
    env.pay(1500);
    let (code, out, _) = env.hitl(&["status", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = &v["daemon"];
    assert_eq!(d["pid"], env.pid());
    assert_eq!(d["open"], 1);
    for key in ["uptime_s", "config_loaded_at", "last_event", "started"] {
        assert!(!d[key].is_null(), "{key}: {out}");
    }
    let (_, text, _) = env.hitl(&["status"]);
    assert!(text.contains("1 open request,"), "{text}");
}

#[test]
fn logs_are_text_on_stderr_without_journald() {
    let mut env = Env::new("");
    env.start_env(&[("JOURNAL_STREAM", "8:12345")]);
    env.pay(1500);
    wait_for("logged", || env.log().contains("journaled"));
    util::wait_for_some("ready line", || {
        env.log().contains("hitl is ready").then_some(())
    });
}

/// Under systemd (JOURNAL_STREAM set) logs go to journald with structured
/// fields. Runs in a private mount namespace with a stand-in journald socket
/// (a Python datagram listener), so it needs root and `unshare`.
#[test]
fn logs_go_to_journald_with_fields() {
    let env = Env::new("");
    let listener = env.dir.path().join("journald.py");
    let out = env.dir.path().join("journald.out");
    std::fs::write(
        &listener,
        "import socket, sys\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nout = open(sys.argv[2], 'ab')\nwhile True:\n    out.write(s.recv(65536) + b'\\n--\\n'); out.flush()\n",
    )
    .unwrap();
    let script = format!(
        "set -e\nmount -t tmpfs tmpfs /run/systemd\nmkdir /run/systemd/journal\npython3 {l} /run/systemd/journal/socket {o} &\nL=$!\nwhile [ ! -S /run/systemd/journal/socket ]; do sleep 0.05; done\nJOURNAL_STREAM=8:1 {BIN} run 2>{e} &\nD=$!\nuntil {BIN} status >/dev/null 2>&1; do sleep 0.05; done\n{BIN} request payment --set amount=1500 >/dev/null\nkill -TERM $D; wait $D\nkill $L\n",
        l = listener.display(),
        o = out.display(),
        e = env.dir.path().join("stderr.log").display(),
    );
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-m", "sh", "-c", &script]);
    for (k, v) in env.cmd().get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let status = cmd.status().expect("unshare runs");
    assert!(
        status.success(),
        "the namespace script failed (needs root): {status}"
    );
    let entries = journald_entries(&std::fs::read(&out).unwrap());
    let field = |e: &HashMap<String, String>, k: &str| e.get(k).cloned().unwrap_or_default();
    let ready = entries
        .iter()
        .find(|e| field(e, "MESSAGE") == "hitl is ready")
        .expect("ready entry");
    assert_eq!(field(ready, "SYSLOG_IDENTIFIER"), "hitl");
    let submitted = entries
        .iter()
        .find(|e| field(e, "EVENT") == "submitted")
        .unwrap_or_else(|| panic!("no structured EVENT field: {entries:?}"));
    assert_eq!(field(submitted, "REQUEST").len(), 12);
    assert_eq!(field(submitted, "ACTOR"), me());
    let stderr = std::fs::read_to_string(env.dir.path().join("stderr.log")).unwrap();
    assert!(
        !stderr.contains("hitl is ready"),
        "logs went to the journal, not stderr: {stderr}"
    );
}

/// Parses journald's native protocol: `NAME=value\n`, or `NAME\n` + u64 LE
/// length + bytes + `\n`. Our stand-in separates datagrams with `\n--\n`.
fn journald_entries(bytes: &[u8]) -> Vec<HashMap<String, String>> {
    let mut entries = Vec::new();
    let mut entry = HashMap::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            i += 1;
            continue;
        }
        if bytes[i..].starts_with(b"--\n") {
            entries.push(std::mem::take(&mut entry));
            i += 3;
            continue;
        }
        let end = i + bytes[i..]
            .iter()
            .position(|&b| b == b'\n' || b == b'=')
            .unwrap();
        let name = String::from_utf8_lossy(&bytes[i..end]).into_owned();
        if bytes[end] == b'=' {
            let stop = end + 1 + bytes[end + 1..].iter().position(|&b| b == b'\n').unwrap();
            entry.insert(
                name,
                String::from_utf8_lossy(&bytes[end + 1..stop]).into_owned(),
            );
            i = stop + 1;
        } else {
            let len = u64::from_le_bytes(bytes[end + 1..end + 9].try_into().unwrap()) as usize;
            let value = &bytes[end + 9..end + 9 + len];
            entry.insert(name, String::from_utf8_lossy(value).into_owned());
            i = end + 9 + len + 1;
        }
    }
    entries
}
