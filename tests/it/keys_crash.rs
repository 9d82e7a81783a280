//! A kill while a secret is being created (the journal key, the approval
//! codes' key) must not leave a part-written key that every later start
//! refuses: the random-kill campaign once left an empty `codes.key`, and
//! the daemon could never start again.

use crate::invariants::spawn_daemon;
use crate::util::{Env, wait_for_some};

/// Starts the daemon with `secret-before-link` armed as `spec`: it is
/// killed (exit 137) just before a new secret would get its name.
fn killed_creating_a_secret(env: &Env, spec: &str) {
    let spec = format!("secret-before-link={spec}");
    let mut daemon = spawn_daemon(env, &[("FAILPOINTS", spec.as_str())]);
    let status = wait_for_some("the daemon killed at the failpoint", || {
        daemon.0.try_wait().unwrap()
    });
    assert_eq!(status.code(), Some(137), "{}", env.log());
}

/// Each key file is absent or whole; returns how many are there.
fn whole_keys(env: &Env) -> usize {
    ["journal.key", "codes.key"]
        .iter()
        .filter_map(|k| std::fs::read(env.state.join(k)).ok())
        .inspect(|key| assert_eq!(key.len(), 32, "a part-written key"))
        .count()
}

#[test]
fn a_kill_while_creating_the_keys_leaves_no_key_a_later_start_refuses() {
    // Killed at the first secret it makes, then at the second.
    for (spec, made) in [("panic", 0), ("1*off->panic", 1)] {
        let mut env = Env::new("");
        killed_creating_a_secret(&env, spec);
        assert_eq!(whole_keys(&env), made, "{spec}");
        env.start();
        let id = env.pay(1500);
        env.wait_note(&id, "Pending_Approval", "pending");
        assert_eq!(whole_keys(&env), 2, "{spec}");
    }
}
