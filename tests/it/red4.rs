//! Red team of issue 12's changes (retention, in-place rewrites, replay
//! scanner, canonical payload): what an agent with the vault can try.

use std::time::Duration;

use crate::util::{Env, restart_from_checkpoint, wait_for_some};

/// Rejects a new payment of `amount` and waits for its Done note.
fn settled(env: &Env, amount: u32) -> String {
    let id = env.pay(amount);
    let (code, _, err) = env.hitl(&["reject", &id, "--reason", "not ours"]);
    assert_eq!(code, 0, "{err}");
    env.wait_note(&id, "Done", "rejected");
    id
}

/// Waits until `id`'s last journal event is more than `kept` + 1 s old.
fn wait_archived(env: &Env, id: &str, kept: Duration) {
    let last = env
        .journal()
        .into_iter()
        .rfind(|e| e["request"] == id)
        .expect("journaled");
    let at: jiff::Timestamp = last["time"].as_str().unwrap().parse().unwrap();
    let due = at + kept + Duration::from_secs(2);
    let deadline = std::time::Instant::now() + kept + Duration::from_secs(30);
    while jiff::Timestamp::now() <= due {
        assert!(std::time::Instant::now() < deadline, "never archived");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A copy of one request's note written over another's note must not
/// hide the second: it was swallowed unread as an "archived copy" (no
/// stale-copy warning, the kept request's note never given back); before
/// retention, it was marked a stale copy, and the overwritten note still
/// counted as present at its path.
#[test]
fn red4_an_archived_copy_put_over_a_kept_done_note_does_not_hide_it() {
    let kept = Duration::from_secs(20);
    let mut env = Env::new("done_notes_kept: 20s\n");
    env.start();
    let old = settled(&env, 1500);
    let old_text = env.note(&old);
    wait_archived(&env, &old, kept);
    // A request settled now: its Done note is kept up for 20 s more.
    let recent = settled(&env, 20);
    let path = env.note_path(&recent).expect("its Done note");
    // The agent writes the archived request's copy over it (a view that
    // lies: the recent request's note now shows the old one).
    std::fs::write(&path, &old_text).unwrap();
    // Read, and the recent request's note given back from the journal.
    env.wait_note(&recent, "Done", "rejected");
    let back = env.note(&recent);
    assert!(
        back.contains("amount: 20") || back.contains("\"amount\": 20"),
        "{back}"
    );
}

/// A drop-in's claimed name goes into its `submitted` line's actor (as a
/// label, up to 64 characters of any width): the read-back of a settled
/// request's lines searches the first bytes of each line for its id, and
/// a wide character across that boundary must not stop it (it panicked).
#[test]
fn red4_a_wide_drop_in_label_does_not_break_a_settled_request_read_back() {
    let mut env = Env::new("");
    env.start();
    let pending = env.folder("Pending_Approval");
    // Four shifts: whatever the line's first bytes, one lands mid-character.
    for shift in 0..4u32 {
        let label = format!("{}{}", "a".repeat(shift as usize), "\u{1F600}".repeat(60));
        let text = format!(
            "---\naction: payment\namount: {}\nrequested_by: \"{label}\"\n---\n",
            10 + shift
        );
        std::fs::write(pending.join(format!("drop{shift}.md")), text).unwrap();
    }
    let ids = wait_for_some("the four drop-ins taken", || {
        let ids: Vec<String> = (env.journal().into_iter())
            .filter(|e| e["event"] == "submitted")
            .filter_map(|e| e["request"].as_str().map(String::from))
            .collect();
        (ids.len() == 4).then_some(ids)
    });
    for id in &ids {
        let (code, _, err) = env.hitl(&["reject", id, "--reason", "no"]);
        assert_eq!(code, 0, "{err}");
        env.wait_note(id, "Done", "rejected");
    }
    // Settled, and after a restart kept as compact records: read back.
    restart_from_checkpoint(&mut env);
    for id in &ids {
        let (code, show, err) = env.hitl(&["show", id]);
        assert_eq!(code, 0, "{id}: {err}\nlog:\n{}", env.log());
        assert!(show.contains("rejected"), "{show}");
    }
}

/// The same without retention: a pending request's note overwritten by a
/// copy of another pending note was left a "stale copy" at its path, and
/// the request counted as shown there, so it could no longer be decided
/// in the vault. Its note is given back, and a tick in it counts.
#[test]
fn red4_a_pending_note_overwritten_by_another_notes_copy_is_given_back() {
    let mut env = Env::new("");
    env.start();
    let hidden = env.pay(1500);
    let other = env.pay(20);
    env.wait_note(&hidden, "Pending_Approval", "pending");
    let copy = env.wait_note(&other, "Pending_Approval", "pending");
    let path = env.note_path(&hidden).expect("its note");
    std::fs::write(&path, &copy).unwrap();
    let back = env.wait_note(&hidden, "Pending_Approval", "pending");
    assert!(back.contains("1500"), "{back}");
    // Decided in the vault, from the note given back.
    env.approve_by_move(&hidden);
    env.wait_note(&hidden, "Done", "executed");
    assert_eq!(env.runs().len(), 1, "{:?}", env.runs());
    assert!(env.runs()[0].starts_with(&hidden), "{:?}", env.runs());
}

/// And with a drop-in written over a pending note: the drop-in is taken
/// as a new request, and the request whose note it replaced gets its note
/// back (it counted as shown at that path, so it was never given back).
#[test]
fn red4_a_pending_note_overwritten_by_a_drop_in_is_given_back() {
    let (env, hidden) = Env::with_pending_payment();
    let path = env.note_path(&hidden).expect("its note");
    std::fs::write(&path, "---\naction: payment\namount: 7\n---\n").unwrap();
    let back = env.wait_note(&hidden, "Pending_Approval", "pending");
    assert!(back.contains("1500"), "{back}");
    wait_for_some("the drop-in taken", || {
        let submitted = (env.journal().into_iter()).filter(|e| e["event"] == "submitted");
        (submitted.count() == 2).then_some(())
    });
    env.approve_by_move(&hidden);
    env.wait_note(&hidden, "Done", "executed");
}

/// A drop-in whose note write failed, then deleted before the retry (by
/// the agent, or the person): the retry kept adopting the gone drop-in
/// ("not at its last known path", nothing written, nothing owed again),
/// and the missing-note regeneration reused that same retry, so the
/// journaled request never got a note. It gets one.
#[test]
fn red4_a_drop_in_deleted_after_its_write_failed_still_gets_a_note() {
    let mut env = Env::new("reconcile_every: 200ms\n");
    let (full, drop_in) = drop_in_whose_write_failed(&mut env);
    let id = env.journal()[0]["request"].as_str().unwrap().to_string();
    std::fs::remove_file(&drop_in).unwrap();
    std::fs::remove_file(&full).unwrap();
    env.wait_note(&id, "Pending_Approval", "pending");
}

/// A drop-in replaced by another drop-in of the same name while its note
/// write fails: both are requests, and each gets a note of its own (the
/// retries adopt the same file name, and neither note may be lost).
#[test]
fn red4_a_drop_in_replaced_while_its_write_fails_leaves_both_requests_a_note() {
    let mut env = Env::new("reconcile_every: 200ms\n");
    let (full, drop_in) = drop_in_whose_write_failed(&mut env);
    let tmp = env.folder("Pending_Approval").join(".new");
    std::fs::write(&tmp, "---\naction: payment\namount: 901\n---\n").unwrap();
    std::fs::rename(&tmp, &drop_in).unwrap();
    let ids = wait_for_some("both taken", || {
        let ids: Vec<String> = (env.journal().into_iter())
            .filter(|e| e["event"] == "submitted")
            .filter_map(|e| e["request"].as_str().map(String::from))
            .collect();
        (ids.len() == 2).then_some(ids)
    });
    std::fs::remove_file(&full).unwrap();
    for id in &ids {
        env.wait_note(id, "Pending_Approval", "pending");
    }
    let a = env.note(&ids[0]);
    let b = env.note(&ids[1]);
    assert!(a.contains("900") && b.contains("901"), "{a}\n{b}");
}

/// Starts the daemon with note writes failing (the returned marker file
/// frees them), drops `pay-rent.md` in and waits for its write to fail.
fn drop_in_whose_write_failed(env: &mut Env) -> (std::path::PathBuf, std::path::PathBuf) {
    let full = env.start_with_note_writes_failing();
    let drop_in = env.folder("Pending_Approval").join("pay-rent.md");
    std::fs::write(&drop_in, "---\naction: payment\namount: 900\n---\n").unwrap();
    wait_for_some("a failed write", || {
        env.log()
            .contains("note not written; retried later")
            .then_some(())
    });
    (full, drop_in)
}
