use super::*;
use std::time::Duration;

fn plan(root: &Path, known: Stamps) -> Plan {
    let vault = Vault::new(root.to_path_buf(), crate::config::Config::builtin().folders);
    vault.create_folders().unwrap();
    Plan {
        dirs: vec![(vault.dir(Folder::Pending), Some(Folder::Pending))],
        vault,
        cap: 1 << 20,
        known,
        scope: Scope::Full,
        folders: Arc::default(),
        turn: 0,
        cancel: Arc::default(),
        held: Arc::default(),
    }
}

#[test]
fn only_notes_whose_settled_stamp_changed_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(dir.path(), HashMap::new());
    let pending = p.vault.dir(Folder::Pending);
    let (same, edited, fresh) = (
        pending.join("a.md"),
        pending.join("b.md"),
        pending.join("c.md"),
    );
    for f in [&same, &edited, &fresh] {
        std::fs::write(f, "---\na: 1\n---\n").unwrap();
    }
    std::fs::write(pending.join(".tmp"), "x").unwrap();
    let later = SystemTime::now() + Duration::from_secs(5);
    let stamp = |f: &Path| Known {
        stamp: Stamp::of(&std::fs::metadata(f).unwrap()),
        at: later,
        digest: 0,
    };
    let name = |f: &Path| f.file_name().unwrap().to_owned();
    let mut known = HashMap::new();
    known.insert(name(&same), stamp(&same));
    known.insert(name(&edited), stamp(&edited));
    // The same file seen within a tick of its change proves nothing.
    let racy = Known {
        at: SystemTime::now(),
        ..stamp(&fresh)
    };
    known.insert(name(&fresh), racy);
    known.insert("gone.md".into(), racy);
    std::fs::write(&edited, "---\na: 2\n---\n").unwrap();
    let p = Plan {
        known: HashMap::from([(pending.clone().into_os_string(), Arc::new(known))]),
        ..p
    };
    let listing = scan(&p).unwrap();
    let kinds: Vec<(String, &str)> = listing
        .seen
        .iter()
        .map(|s| match s {
            Seen::Other(p) => (p, "other"),
            Seen::Read(p, _, _) => (p, "read"),
        })
        .map(|(p, k)| (p.file_name().unwrap().to_string_lossy().into_owned(), k))
        .collect();
    let want = [(".tmp", "other"), ("b.md", "read"), ("c.md", "read")];
    let want: Vec<(String, &str)> = want.iter().map(|(n, k)| (n.to_string(), *k)).collect();
    assert_eq!(kinds, want);
    assert_eq!((listing.unchanged, listing.count), (1, 4));
    assert!(listing.listed.shows(&same) && listing.listed.shows(&fresh));
    assert!(!listing.listed.shows(&pending.join("gone.md")));
    assert_eq!(listing.stale, [pending.join("gone.md")]);
}

#[test]
fn a_periodic_reconcile_does_not_list_a_folder_of_done_that_did_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(dir.path(), HashMap::new());
    let month = p.vault.dir(Folder::Done).join("2026-11");
    std::fs::create_dir_all(&month).unwrap();
    std::fs::write(month.join("a.md"), "x").unwrap();
    let stamp = Stamp::of(&std::fs::symlink_metadata(&month).unwrap());
    let later = SystemTime::now() + Duration::from_secs(5);
    let listed = |scope, at| {
        let p = Plan {
            dirs: vec![(month.clone(), Some(Folder::Done))],
            scope,
            folders: Arc::new(HashMap::from([(
                month.clone(),
                FolderSeen {
                    stamp,
                    at,
                    files: 0,
                },
            )])),
            vault: p.vault.clone(),
            known: Stamps::default(),
            cap: p.cap,
            turn: 0,
            cancel: Arc::default(),
            held: Arc::default(),
        };
        scan(&p).unwrap().count
    };
    assert_eq!(listed(Scope::Periodic, later), 0, "unchanged: not listed");
    assert_eq!(listed(Scope::Full, later), 1, "a full reconcile lists it");
    // A stamp taken within a tick of the folder's change proves nothing.
    assert_eq!(listed(Scope::Periodic, SystemTime::now()), 1);
    std::fs::write(month.join("b.md"), "x").unwrap();
    assert_eq!(listed(Scope::Periodic, later), 2, "a file added: listed");
}

#[test]
fn a_cancelled_scan_stops() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(dir.path(), HashMap::new());
    std::fs::write(p.vault.dir(Folder::Pending).join("a.md"), "x").unwrap();
    drop(CancelOnDrop(p.cancel.clone()));
    assert!(scan(&p).is_none());
}
