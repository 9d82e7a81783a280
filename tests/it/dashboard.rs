//! The daemon keeps `Approvals.md` up to date by itself: after changes,
//! coalesced, only when what it shows changed, and never reading or
//! following what an agent left at its path.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Instant;

use crate::util::{Env, wait_for, wait_for_some};

fn page_path(env: &Env) -> PathBuf {
    env.vault.join("Approvals.md")
}

/// The page, if it is a regular file of a page's size.
fn page(env: &Env) -> Option<String> {
    let p = page_path(env);
    let meta = std::fs::symlink_metadata(&p).ok()?;
    // Not a FIFO (it would block the test), nor the huge file a test left.
    (meta.file_type().is_file() && meta.len() < 1 << 20)
        .then(|| std::fs::read_to_string(&p).ok())
        .flatten()
}

fn wait_page(env: &Env, what: &str, f: impl Fn(&str) -> bool) -> String {
    wait_for_some(what, || page(env).filter(|p| f(p)))
}

fn count(env: &Env, line: &str) -> usize {
    env.log().lines().filter(|l| l.contains(line)).count()
}

fn stem(env: &Env, id: &str) -> String {
    let p = env.note_path(id).unwrap();
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn the_daemon_writes_the_dashboard_after_a_submission_and_after_a_decision() {
    let (env, id) = Env::with_pending_payment();
    let link = format!("[[{}]]", stem(&env, &id));
    wait_page(&env, "the open request on the page", |p| {
        p.contains("## Waiting for you (1)") && p.contains(&link)
    });
    let (code, _, err) = env.hitl(&["approve", &id, "--reason", "invoice checked"]);
    assert_eq!(code, 0, "{err}");
    let page = wait_page(&env, "the decision on the page", |p| {
        p.contains("## Waiting for you (0)") && p.contains("| executed | 1 |")
    });
    let row = page
        .lines()
        .find(|l| l.contains(&link) && l.contains("| approved |"))
        .unwrap_or_else(|| panic!("no decision row:\n{page}"));
    assert!(row.contains("invoice checked"), "{row}");
    let log = env.log();
    assert!(
        !log.lines()
            .any(|l| l.contains("Approvals.md") && (l.contains("WARN") || l.contains("ERROR"))),
        "the daemon's own page is no note to warn about:\n{log}"
    );
}

#[test]
fn an_unchanged_dashboard_is_not_written_again() {
    let mut env = Env::new("dashboard_refresh: 200ms\n");
    env.start();
    let id = env.pay(1500);
    let link = format!("[[{}]]", stem(&env, &id));
    wait_page(&env, "the request on the page", |p| p.contains(&link));
    let before = std::fs::metadata(page_path(&env)).unwrap();
    let reconciles = count(&env, "reconciled the vault");
    let unchanged = count(&env, "dashboard unchanged; not written");
    // The positive sign: the daemon rendered the page again, twice, and
    // found nothing it shows had changed.
    wait_for("two more renders", || {
        count(&env, "dashboard unchanged; not written") >= unchanged + 2
    });
    let after = std::fs::metadata(page_path(&env)).unwrap();
    assert_eq!(before.ino(), after.ino(), "the page was replaced");
    assert_eq!(before.mtime_nsec(), after.mtime_nsec());
    assert_eq!(
        count(&env, "reconciled the vault"),
        reconciles,
        "the page's writes made the daemon reconcile:\n{}",
        env.log()
    );
}

#[test]
fn a_burst_of_decisions_gives_a_few_dashboard_writes() {
    let mut env = Env::new("");
    env.start();
    let n = 200;
    let pending = env.folder("Pending_Approval");
    for i in 0..n {
        let note = format!("---\naction: ship\nparcel: {i}\n---\nShip parcel {i}\n");
        std::fs::write(pending.join(format!("ship-{i}.md")), note).unwrap();
    }
    wait_page(&env, "every drop-in waiting", |p| {
        p.contains(&format!("## Waiting for you ({n})"))
    });
    // Each drop-in rewritten as a request note (the page is written
    // before the notes are).
    let names: Vec<PathBuf> = wait_for_some("every note rewritten", || {
        let notes: Vec<PathBuf> = std::fs::read_dir(&pending)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("hitl_id:")))
            .collect();
        (notes.len() == n).then_some(notes)
    });
    let written = count(&env, "dashboard written");
    let started = Instant::now();
    for p in &names {
        std::fs::rename(p, env.folder("Approved").join(p.file_name().unwrap())).unwrap();
    }
    wait_page(&env, "every decision on the page", |p| {
        p.contains(&format!("| approved | {n} |"))
    });
    let secs = started.elapsed().as_secs_f64();
    let writes = count(&env, "dashboard written") - written;
    // At most two writes a second, and far fewer than decisions.
    assert!(
        (writes as f64) <= 2.0 * secs + 2.0 && writes < n / 10,
        "{writes} writes for {n} decisions in {secs:.1} s"
    );
}

#[test]
fn a_hostile_dashboard_path_is_replaced_never_followed() {
    let mut env = Env::new("");
    let outside = env.dir.path().join("secret.txt");
    std::fs::write(&outside, "keep").unwrap();
    std::os::unix::fs::symlink(&outside, page_path(&env)).unwrap();
    env.start();
    wait_page(&env, "a page in place of the symlink", |p| {
        p.contains("# Approvals")
    });
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");

    // A FIFO: opening it would block; it is replaced without being opened.
    std::fs::remove_file(page_path(&env)).unwrap();
    let fifo = std::ffi::CString::new(page_path(&env).to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let id = env.pay(1500);
    let link = format!("[[{}]]", stem(&env, &id));
    wait_page(&env, "a page in place of the FIFO", |p| p.contains(&link));

    // A huge file: never read, just replaced.
    std::fs::remove_file(page_path(&env)).unwrap();
    let huge = std::fs::File::create(page_path(&env)).unwrap();
    huge.set_len(4 << 30).unwrap();
    drop(huge);
    let (code, _, err) = env.hitl(&["reject", &id, "--reason", "no"]);
    assert_eq!(code, 0, "{err}");
    let page = wait_page(&env, "a page in place of the huge file", |p| {
        p.contains("| rejected | 1 |")
    });
    assert!(page.len() < 100_000);
    assert_eq!(env.hitl(&["status"]).0, 0, "the daemon still answers");
}

#[test]
fn a_cancel_reason_is_journaled_and_shown_in_the_note_history_and_dashboard() {
    let (env, id) = Env::with_pending_payment();
    let (code, _, err) = env.hitl(&["cancel", &id, "--reason", "sent twice"]);
    assert_eq!(code, 0, "{err}");
    let ev = wait_for_some("the cancelled event", || {
        env.journal()
            .into_iter()
            .find(|e| e["request"] == id.as_str() && e["event"] == "cancelled")
    });
    assert_eq!(ev["details"], "sent twice", "{ev}");
    let note = env.wait_note(&id, "Done", "cancelled");
    assert!(
        note.contains("cancelled by") && note.contains("sent twice"),
        "{note}"
    );
    let (_, history, _) = env.hitl(&["history", &id]);
    assert!(history.contains("sent twice"), "{history}");
    let link = format!("[[{}]]", stem(&env, &id));
    // The decisions table's row, not any page with the link: the counts
    // table always has a "| cancelled |" row, and the page written
    // before the cancel (the request waiting) has the link.
    let cancelled_row = |p: &str| {
        p.lines()
            .find(|l| l.contains(&link) && l.contains("| cancelled |"))
            .map(str::to_string)
    };
    let page = wait_page(&env, "the cancellation on the page", |p| {
        cancelled_row(p).is_some()
    });
    let row = cancelled_row(&page).unwrap();
    assert!(row.contains("sent twice"), "{row}");
}
