use super::*;
use std::time::SystemTime;

fn chain(key: u8) -> Chain {
    Chain::keyed(&[key; 32])
}

fn resume() -> Resume {
    Resume {
        seq: 7,
        hash: "ab".repeat(32),
        head_offset: 100,
        end: 200,
    }
}

/// Two real files' entries, in a vault at `root`.
fn entries(root: &Path) -> Vec<Entry> {
    let done = root.join("Done/2026-11");
    std::fs::create_dir_all(&done).unwrap();
    ["a b.md", "c.md"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let path = done.join(name);
            std::fs::write(&path, name).unwrap();
            let at = UNIX_EPOCH + Duration::from_nanos(1_764_150_000_123_456_789);
            Entry {
                known: Known {
                    stamp: crate::vault::stamp(&path).unwrap(),
                    at,
                    digest: u128::MAX - i as u128,
                },
                path,
                id: format!("id{i}"),
            }
        })
        .collect()
}

#[test]
fn stamps_read_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let (state, vault) = (dir.path(), dir.path().join("vault"));
    let want = entries(&vault);
    let n = write(state, &vault, resume(), &chain(1), want.clone().into_iter()).unwrap();
    assert_eq!(n, 2);
    let got = load(state, &vault, &chain(1)).unwrap();
    assert_eq!(got.resume, resume());
    assert_eq!(got.entries, want);
}

#[test]
fn a_stamp_file_edited_or_under_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (state, vault) = (dir.path(), dir.path().join("vault"));
    write(
        state,
        &vault,
        resume(),
        &chain(1),
        entries(&vault).into_iter(),
    )
    .unwrap();
    assert!(matches!(load(state, &vault, &chain(2)), Err(Unusable::Mac)));
    let path = state.join(FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    // A later change time for one note: the edit an attacker would make.
    let forged = text.replacen(" id0 ", " id1 ", 1);
    std::fs::write(&path, forged).unwrap();
    assert!(matches!(load(state, &vault, &chain(1)), Err(Unusable::Mac)));
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    assert!(matches!(load(state, &vault, &chain(1)), Err(Unusable::Mac)));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        load(state, &vault, &chain(1)),
        Err(Unusable::Missing)
    ));
}

#[test]
fn a_line_naming_a_path_out_of_the_vault_is_not_read() {
    let v = Path::new("/v");
    let line = |path: &str| format!("1 2 3 4 5 6 {:032x} id {path}", 9u128);
    assert!(parse_line(line("Done/a.md").as_bytes(), v).is_some());
    for bad in ["../a.md", "/etc/a.md", "Done/../../a.md", ""] {
        assert!(parse_line(line(bad).as_bytes(), v).is_none(), "{bad}");
    }
    assert!(parse_line(b"1 2 3", v).is_none());
}

#[test]
fn a_path_a_line_cant_hold_is_not_written() {
    let vault = Path::new("/v");
    let known = Known {
        stamp: crate::vault::stamp(Path::new("/")).unwrap(),
        at: SystemTime::now(),
        digest: 1,
    };
    let e = |path: &str, id: &str| Entry {
        path: PathBuf::from(path),
        known,
        id: id.into(),
    };
    let mut out = Vec::new();
    assert!(push_line(&mut out, vault, &e("/v/Done/a b.md", "x")));
    assert!(!push_line(&mut out, vault, &e("/v/Done/a\nb.md", "x")));
    assert!(!push_line(&mut out, vault, &e("/elsewhere/a.md", "x")));
    assert!(!push_line(&mut out, vault, &e("/v/Done/a.md", "x y")));
}
