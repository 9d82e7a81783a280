//! The socket can't be exhausted: idle connections, a huge line, and
//! running out of file descriptors.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::util::{Env, wait_for};

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
    let first_status = start.elapsed();
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
    let tick = start.elapsed();
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
    eprintln!(
        "under 2,000 idle connections and a 100 MB line: status {first_status:?}, tick journaled {tick:?}, RSS {rss} kB"
    );
    assert!(rss < 100 * 1024, "daemon RSS {rss} kB");
    drop(idle);
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
