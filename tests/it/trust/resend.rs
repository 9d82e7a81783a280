//! Approval codes not journaled as delivered are sent again at restart.

use super::{code_for, tick, webhook_server_on, with_code};
use crate::util::{Env, wait_for};

#[test]
fn a_code_not_delivered_before_a_restart_is_sent_again_and_approves() {
    // A port nobody listens on yet: the code's delivery fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = Env::new(&format!(
        "notify:\n  - {{ name: phone, kind: webhook, url: \"http://127.0.0.1:{port}/codes\" }}\nrules:\n  - {{ name: coded, when: {{ type: payment }}, decision: require, approval: code, code_via: [phone] }}\n"
    ));
    env.start();
    let id = env.pay(1500);
    let code_failed = |env: &Env| {
        env.journal().iter().any(|e| {
            e["request"] == id.as_str()
                && e["event"] == "notify_failed"
                && e.to_string().contains("\"code\"")
        })
    };
    wait_for("the code's failed delivery journaled", || code_failed(&env));
    env.stop();
    let (_, rx) = webhook_server_on(port);
    env.start();
    let code = code_for(&rx, &id);
    env.edit(&id, |t| with_code(&code)(tick(t)));
    env.wait_note(&id, "Done", "executed");
    assert_eq!(env.runs().len(), 1);
}
