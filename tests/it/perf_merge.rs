//! Issue 12's two halves together: a start-up stopped during its (long)
//! reconcile is a clean shutdown too, so it leaves a checkpoint.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{Env, wait_for};

#[test]
fn a_stop_during_start_up_leaves_a_checkpoint_the_next_start_uses() {
    let mut env = Env::new("");
    env.start();
    let id = env.pay(1500);
    env.wait_note(&id, "Pending_Approval", "pending");
    env.stop();
    let checkpoint = env.state.join("checkpoint");
    std::fs::remove_file(&checkpoint).expect("a clean shutdown writes a checkpoint");
    // A large vault, each note slowed to 5 ms: the start-up reconcile
    // takes ~10 s.
    let done = env.vault.join("Done");
    for i in 0..2000 {
        std::fs::write(done.join(format!("note-{i}.md")), format!("# note {i}\n")).unwrap();
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.log_path())
        .unwrap();
    let mut daemon = env
        .cmd()
        .env("FAILPOINTS", "reconcile-scan-file=sleep(5)")
        .arg("run")
        .stderr(log)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let sock = env.state.join("hitl.sock");
    wait_for("the daemon starting", || sock.exists());
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(5) {
            let _ = daemon.kill();
            panic!("still running 5 s after SIGTERM\n{}", env.log());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}\n{}", env.log());
    assert!(
        env.log().contains("stopped during start-up"),
        "{}",
        env.log()
    );
    assert!(checkpoint.exists(), "no checkpoint\n{}", env.log());
    env.start();
    wait_for("the checkpoint used", || {
        env.log().contains("state loaded from the checkpoint")
    });
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&id, "Done", "executed");
}
