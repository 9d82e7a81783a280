//! Red team, round 3: this round's mechanisms (note stamps kept across a
//! restart, settled requests read back from the journal by offset, chunked
//! bulk work) attacked by an agent running as the same user, which writes
//! the vault and the state folder's files while hitl is down or running.

use crate::stamps::{overwrite_unseen, stamped_vault, start_reads};
use crate::util::{Env, wait_for};

#[test]
fn a_done_note_forged_while_down_is_put_back_under_a_replayed_older_stamp_file() {
    let (mut env, done, pending) = stamped_vault(2);
    let older = std::fs::read(env.state.join("note-stamps")).unwrap();
    // A later run: something else settles, a newer stamp file is written.
    env.start();
    env.reject_with(&pending, "later");
    env.wait_note(&pending, "Done", "rejected");
    env.stop();
    // While down: a Done note forged (same size, mtime put back) and the
    // older, genuine stamp file put back over the newer one.
    let path = env.note_path(&done[0]).unwrap();
    let genuine = std::fs::read_to_string(&path).unwrap();
    let forged = genuine.replace("status: rejected", "status: approved");
    assert_ne!(forged, genuine);
    overwrite_unseen(&path, &forged);
    std::fs::write(env.state.join("note-stamps"), older).unwrap();
    env.start();
    let reads = start_reads(&env);
    assert_eq!(
        reads["stamps"], "used",
        "the older file is genuine: {reads}"
    );
    wait_for("the forged Done note put back", || {
        env.note_path(&done[0])
            .and_then(|p| std::fs::read_to_string(p).ok())
            .is_some_and(|t| t == genuine)
    });
    assert_eq!(env.events(&done[0]), ["submitted", "rejected"]);
    assert!(env.runs().is_empty());
}

#[test]
fn a_done_note_replaced_by_a_rename_of_another_while_down_is_read_and_both_put_right() {
    let (mut env, done, _pending) = stamped_vault(2);
    let (a, b) = (
        env.note_path(&done[0]).unwrap(),
        env.note_path(&done[1]).unwrap(),
    );
    let (note_a, note_b) = (
        std::fs::read_to_string(&a).unwrap(),
        std::fs::read_to_string(&b).unwrap(),
    );
    // The other note renamed over it: a's path now holds b's note.
    std::fs::rename(&b, &a).unwrap();
    env.start();
    let reads = start_reads(&env);
    assert_eq!(reads["stamps"], "used", "{reads}");
    wait_for("each request's own note back", || {
        let text = |id: &str| {
            env.note_path(id)
                .and_then(|p| std::fs::read_to_string(p).ok())
        };
        text(&done[0]).as_deref() == Some(note_a.as_str())
            && text(&done[1]).as_deref() == Some(note_b.as_str())
    });
    for id in &done {
        assert_eq!(env.events(id), ["submitted", "rejected"]);
    }
}

/// The journal line of a settled request rewritten in place (same length,
/// so every offset holds): its MAC no longer checks. `hitl show` and
/// `history` must refuse, never print the forged text as the record.
#[test]
fn a_settled_requests_journal_line_edited_in_place_is_never_shown_as_true() {
    let mut env = Env::new("");
    env.start();
    let id = env.pay(1500);
    env.reject_with(&id, "not ours, fraud");
    env.wait_note(&id, "Done", "rejected");
    // Something after it, so the checkpoint's head is another line.
    let other = env.pay(20);
    env.wait_note(&other, "Pending_Approval", "pending");
    env.stop();
    for args in [["show", id.as_str()], ["history", id.as_str()]] {
        let (code, out, err) = env.hitl(&args);
        assert!(
            out.contains("not ours, fraud"),
            "hitl {args:?} shows the reason: {code} {out}{err}"
        );
    }
    let (_, out, err) = env.hitl(&["dashboard", "--stdout"]);
    assert!(
        out.contains("not ours, fraud"),
        "the dashboard shows the reason: {out}{err}"
    );
    let journal = env.state.join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let forged = text.replace("not ours, fraud", "ok - cfo signed");
    assert_eq!(forged.len(), text.len());
    std::fs::write(&journal, &forged).unwrap();
    let check = |env: &Env, when: &str| {
        for args in [
            vec!["show", &id],
            vec!["history", &id],
            vec!["show", &id, "--json"],
        ] {
            let (code, out, err) = env.hitl(&args);
            eprintln!("{when}: hitl {args:?}: exit {code}\n{out}{err}");
            assert!(
                !out.contains("cfo signed"),
                "{when}: hitl {args:?} showed the forged line as true (exit {code}):\n{out}{err}"
            );
        }
        let (_, out, err) = env.hitl(&["list", "--status", "rejected"]);
        assert!(!out.contains("cfo signed"), "{when}: list: {out}{err}");
        let (_, out, err) = env.hitl(&["dashboard", "--stdout"]);
        assert!(!out.contains("cfo signed"), "{when}: dashboard: {out}{err}");
    };
    check(&env, "daemon down");
    env.start();
    check(&env, "daemon up");
    // Its note gone: not rendered again from the forged line.
    let note = env.note_path(&id).unwrap();
    std::fs::remove_file(&note).unwrap();
    // A positive sign the daemon looked: the pending one's decision taken
    // after the removal.
    env.edit(&other, |t| t.replace("- [ ] Reject", "- [x] Reject"));
    wait_for("the later decision taken", || {
        env.events(&other).iter().any(|e| e == "rejected")
    });
    if let Some(p) = env.note_path(&id) {
        let t = std::fs::read_to_string(p).unwrap();
        assert!(
            !t.contains("cfo signed"),
            "note rendered from a forged line:\n{t}"
        );
    }
    assert!(env.runs().is_empty());
}

/// The reconciles logged so far.
fn reconciles(env: &Env) -> usize {
    env.log().matches("reconciled the vault").count()
}

/// A periodic reconcile doesn't `stat` the notes of `Done/` it knows,
/// trusting file events to report their edits. An edit made through a
/// hard link outside the vault reports nothing to the vault's watches
/// (inotify reports a write to the folder of the name it was made
/// through), and the link gone again leaves one name: the forged view of
/// a settled request must still be put back by a later reconcile.
#[test]
fn a_done_note_edited_through_a_hard_link_outside_the_vault_is_put_back() {
    let mut env = Env::new("reconcile_every: 1s\n");
    env.start();
    let id = env.pay(1500);
    env.reject_with(&id, "not ours");
    let genuine = env.wait_note(&id, "Done", "rejected");
    let path = env.note_path(&id).unwrap();
    // Every stamp settled: reconciles skip the Done note and its folder.
    let before = reconciles(&env);
    wait_for("a few reconciles", || reconciles(&env) >= before + 3);
    let link = env.dir.path().join("outside.md");
    std::fs::hard_link(&path, &link).unwrap();
    let forged = genuine.replace("status: rejected", "status: executed");
    std::fs::write(&link, &forged).unwrap();
    std::fs::remove_file(&link).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), forged);
    wait_for("the forged Done note put back", || {
        std::fs::read_to_string(&path).is_ok_and(|t| t == genuine)
            || env
                .note_path(&id)
                .and_then(|p| std::fs::read_to_string(p).ok())
                .as_deref()
                == Some(genuine.as_str())
    });
    assert_eq!(env.events(&id), ["submitted", "rejected"]);
}

/// A burst of drop-ins is written back as one batch. It held a temp file
/// open per note until the whole batch was flushed (and the replaced
/// files until a thread closed them): more drop-ins than the daemon has
/// descriptors (1,024 is a common limit) and the rewrites failed with
/// "Too many open files", leaving journaled requests without their note.
#[test]
fn a_burst_of_drop_ins_under_a_low_open_file_limit_loses_no_note_write() {
    const N: usize = 1500;
    let mut env = Env::new("");
    let pending = env.folder("Pending_Approval");
    std::fs::create_dir_all(&pending).unwrap();
    for i in 0..N {
        let text = format!("---\naction: payment\namount: {}\n---\n", 100 + i);
        std::fs::write(pending.join(format!("pay-{i:04}.md")), text).unwrap();
    }
    env.start_with_fd_limit(1024);
    let rewritten = || {
        std::fs::read_dir(&pending)
            .unwrap()
            .flatten()
            .filter(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("hitl_id:")))
            .count()
    };
    let journaled = || {
        let journal = env.journal();
        journal.iter().filter(|e| e["event"] == "submitted").count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while (journaled() < N || rewritten() < N) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(journaled(), N);
    assert_eq!(rewritten(), N, "{}", env.log());
    assert!(!env.log().contains("Too many open files"), "{}", env.log());
}

/// A periodic reconcile doesn't list a folder of `Done/` whose own stamp
/// is unchanged. A spoofed note added there, with the folder's and the
/// note's modification times put back and no file event (the watcher
/// blinded), must still be found: the folder's change time moved.
#[test]
fn a_note_slipped_into_a_done_month_folder_with_its_times_put_back_is_still_found() {
    let mut env = Env::new("reconcile_every: 1s\n");
    env.start_env(&[("FAILPOINTS", "watcher-drop-events=return")]);
    let id = env.pay(1500);
    env.reject_with(&id, "not ours");
    env.wait_note(&id, "Done", "rejected");
    let month = env.note_path(&id).unwrap().parent().unwrap().to_path_buf();
    let before = reconciles(&env);
    wait_for("a few reconciles", || reconciles(&env) >= before + 3);
    let folder_time = std::fs::metadata(&month).unwrap().modified().unwrap();
    let spoof = month.join("spoof.md");
    let text = std::fs::read_to_string(env.note_path(&id).unwrap())
        .unwrap()
        .replace(&format!("hitl_id: {id}"), "hitl_id: 0123456789ab");
    std::fs::write(&spoof, text).unwrap();
    for path in [&spoof, &month] {
        let f = std::fs::File::open(path).unwrap();
        f.set_modified(folder_time).unwrap();
    }
    assert_eq!(
        std::fs::metadata(&month).unwrap().modified().unwrap(),
        folder_time
    );
    wait_for("the spoof found and marked as no request", || {
        std::fs::read_to_string(&spoof).is_ok_and(|t| t.contains("is not in hitl's journal"))
    });
    assert_eq!(env.events(&id), ["submitted", "rejected"]);
    assert!(env.runs().is_empty());
}
