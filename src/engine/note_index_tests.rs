use super::*;

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

#[test]
fn a_note_changed_since_the_machine_read_it_holds_an_unread_change() {
    let mut ix = NoteIndex::default();
    let at = p("/v/a.md");
    assert!(
        !ix.unread_change(&at, "anything"),
        "never read: the start read it"
    );
    ix.wrote(&at, "ours", Some("a"));
    assert!(!ix.unread_change(&at, "ours"));
    ix.given(&at, digest(b"ticked"));
    assert!(!ix.unread_change(&at, "ticked"));
    assert!(ix.unread_change(&at, "ticked, and a code"));
}

#[test]
fn a_moved_note_is_known_only_at_its_new_path() {
    let mut ix = NoteIndex::default();
    ix.track("a", p("/v/Pending/a.md"));
    ix.track("a", p("/v/Approved/a.md"));
    assert_eq!(ix.path_of("a"), Some(p("/v/Approved/a.md").as_path()));
    assert_eq!(ix.id_at(&p("/v/Approved/a.md")), Some(&"a".to_string()));
    assert_eq!(ix.id_at(&p("/v/Pending/a.md")), None);
}

#[test]
fn a_path_taken_over_by_another_request_is_no_longer_the_first_ones() {
    let mut ix = NoteIndex::default();
    ix.track("a", p("/v/x.md"));
    ix.track("b", p("/v/x.md"));
    assert_eq!(ix.path_of("a"), None);
    assert_eq!(ix.path_of("b"), Some(p("/v/x.md").as_path()));
}

#[test]
fn a_tracked_notes_path_is_one_allocation_found_both_ways() {
    let mut ix = NoteIndex::default();
    for (id, path) in [
        ("a", "/v/P/a.md"),
        ("b", "/v/P/b.md"),
        ("a", "/v/D/a.md"),
        ("b", "/v/P/a.md"),
    ] {
        ix.track(id, p(path));
    }
    // "b" took over a's old path after "a" moved: each map is the other's
    // inverse, and each path is stored once, shared by both.
    assert_eq!(ix.notes.len(), 2);
    assert_eq!(ix.by_path.len(), 2);
    for (id, path) in &ix.notes {
        let (key, owner) = ix
            .by_path
            .get_key_value(&**path)
            .expect("found by its path");
        assert_eq!(owner, id);
        assert!(Arc::ptr_eq(key, path), "{id}: one copy of its path");
    }
    assert_eq!(ix.path_of("a"), Some(Path::new("/v/D/a.md")));
    assert_eq!(ix.path_of("b"), Some(Path::new("/v/P/a.md")));
}

#[test]
fn forgetting_a_note_or_losing_its_file_forgets_both_ways() {
    let mut ix = NoteIndex::default();
    ix.track("a", p("/v/a.md"));
    ix.forget("a");
    assert_eq!((ix.path_of("a"), ix.id_at(&p("/v/a.md"))), (None, None));
    ix.track("b", p("/v/b.md"));
    ix.gone(&p("/v/b.md"));
    assert_eq!((ix.path_of("b"), ix.id_at(&p("/v/b.md"))), (None, None));
}

#[test]
fn the_engines_own_write_is_recognised_by_content_even_after_the_file_is_gone() {
    let mut ix = NoteIndex::default();
    ix.wrote(&p("/v/a.md"), "text", Some("a"));
    ix.gone(&p("/v/a.md"));
    let h = |t: &str| digest(t.as_bytes());
    assert_eq!(
        ix.echo(&p("/v/a.md"), h("text")),
        Echo::Own(Some("a".to_string()))
    );
    assert_eq!(ix.echo(&p("/v/a.md"), h("text, edited")), Echo::Foreign);
    assert_eq!(ix.echo(&p("/v/b.md"), h("text")), Echo::Foreign);
}

#[test]
fn a_note_owed_a_write_is_owed_once() {
    let mut ix = NoteIndex::default();
    ix.owe("b");
    ix.owe("a");
    ix.owe("b");
    assert_eq!(ix.take_owed(), ["a", "b"]);
    assert!(ix.take_owed().is_empty());
}

#[test]
fn a_problem_is_reported_once_until_it_changes_or_clears() {
    let mut ix = NoteIndex::default();
    let f = p("/v/bad.md");
    assert!(ix.report(&f, "not readable"));
    assert!(!ix.report(&f, "not readable"));
    assert!(ix.report(&f, "too big"));
    ix.clear_report(&f);
    assert!(ix.report(&f, "too big"));
}
