//! Attacks by an agent that runs as the same user, writes the vault and
//! talks to the socket; each test is named after what it defends.

use crate::util::*;

/// A request that is submitted and settled while a watched folder is away
/// has no note yet; when the vault comes back its note is written, in
/// `Done/`, with the final state.
#[test]
fn a_request_settled_while_the_vault_was_away_gets_its_note_when_it_is_back() {
    let mut env = Env::new("");
    env.start();
    let done = env.folder("Done");
    let aside = env.vault.join("Done.aside");
    std::fs::rename(&done, &aside).unwrap();
    wait_for("unavailable", || {
        env.log().contains("the vault is unavailable")
    });
    let id = env.pay(5);
    let (code, _, err) = env.hitl(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    wait_for("ran", || env.events(&id).iter().any(|e| e == "executed"));
    std::fs::rename(&aside, &done).unwrap();
    wait_for("back", || env.log().contains("the vault is back"));
    env.wait_note(&id, "Done", "executed");
}
