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

/// A drop-in note may say who it is from, but only as a label on the
/// drop-in channel: it can't pass for a caller the kernel named
/// (`cli:<user>`), in the journal or in the note.
#[test]
fn a_drop_in_cannot_claim_a_kernel_verified_requester() {
    let mut env = Env::new("");
    env.start();
    let forged = me();
    std::fs::write(
        env.folder("Pending_Approval").join("forged.md"),
        format!("---\naction: payment\namount: 3\nrequested_by: {forged}\n---\n"),
    )
    .unwrap();
    let submitted = wait_for_some("ingested", || {
        env.journal()
            .into_iter()
            .find(|e| e["event"] == "submitted")
    });
    let actor = submitted["actor"].as_str().unwrap();
    let requested_by = submitted["details"]["requested_by"].as_str().unwrap();
    for who in [actor, requested_by] {
        assert!(
            who.starts_with("drop-in") && who.contains(&forged),
            "the drop-in channel is named, the claim kept as a label: {who}"
        );
    }
    let id = submitted["request"].as_str().unwrap();
    let note = env.wait_note(id, "Pending_Approval", "pending");
    assert!(
        !note.contains(&format!("**Requested by:** {forged}")),
        "{note}"
    );
}
