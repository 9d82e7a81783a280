//! A handler's output: read with a cap, the head made safe to show in a note,
//! and the whole of it, raw, in the state folder.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// How much output the note shows.
pub const NOTE_HEAD: usize = 4096;
/// How much output is kept at all, per stream.
const KEEP: usize = 8 * 1024 * 1024;
/// What separates stdout from stderr.
const STDERR_MARK: &str = "\n--- stderr ---\n";

pub async fn read_capped<R: AsyncRead + Unpin>(stream: Option<R>) -> Vec<u8> {
    let Some(mut stream) = stream else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) if out.len() < KEEP => out.extend_from_slice(&buf[..n.min(KEEP - out.len())]),
            Ok(_) => {} // keep draining so the handler never blocks on a full pipe
        }
    }
}

/// Like [`read_capped`], and what is read is also written to `live` as it
/// comes, so `hitl log --follow` can show stdout while the handler runs.
/// [`keep_output`] writes the file in full when the run ends.
pub async fn read_capped_live<R: AsyncRead + Unpin>(stream: Option<R>, live: &Path) -> Vec<u8> {
    use tokio::io::AsyncWriteExt as _;
    let Some(mut stream) = stream else {
        return Vec::new();
    };
    if let Some(dir) = live.parent() {
        let _ = tokio::fs::create_dir_all(dir).await;
    }
    let mut file = tokio::fs::File::create(live).await.ok();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) if out.len() < KEEP => {
                let kept = &buf[..n.min(KEEP - out.len())];
                if let Some(f) = file.as_mut() {
                    let _ = f.write_all(kept).await;
                }
                out.extend_from_slice(kept);
            }
            Ok(_) => {} // keep draining so the handler never blocks on a full pipe
        }
    }
    if let Some(f) = file.as_mut() {
        let _ = f.flush().await; // before keep_output writes the whole
    }
    out
}

/// A stream's captured bytes. Every process of the run is gone by now, so
/// the pipe is closed; the timeout only guards against a holder hitl could
/// not find (a descriptor passed to an unrelated process).
pub async fn collect(h: tokio::task::JoinHandle<Vec<u8>>) -> Vec<u8> {
    tokio::time::timeout(Duration::from_secs(2), h)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// The head of the output for the note, control characters made visible,
/// and whether it was cut. The whole of it, byte for byte, goes to
/// `full_path`.
pub fn keep_output(full_path: &Path, stdout: &[u8], stderr: &[u8]) -> (String, bool) {
    let mut full = stdout.to_vec();
    if !stderr.is_empty() {
        full.extend_from_slice(STDERR_MARK.as_bytes());
        full.extend_from_slice(stderr);
    }
    let truncated = full.len() > NOTE_HEAD;
    // Kept for every run, empty or not: `hitl log` and the README count on it.
    if let Some(dir) = full_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(full_path, &full) {
        tracing::warn!(path = %full_path.display(), "could not keep the handler's full output: {e}");
    }
    let text = String::from_utf8_lossy(&full);
    (visible(head(&text, NOTE_HEAD)).into_owned(), truncated)
}

/// The first `max` bytes of `s`, cut on a character boundary.
pub fn head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` with control characters shown rather than obeyed, so output can't
/// move the cursor, hide text or reorder it in a note: C0 controls and DEL
/// become their Unicode control pictures (NUL is `␀`, ESC `␛`, CR `␍`);
/// C1 controls, bidirectional overrides and invisible format characters
/// become `\u{..}` escapes. Newline and tab stay.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_showing) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            c if !needs_showing(c) => out.push(c),
            '\0'..='\x1f' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
            '\x7f' => out.push('\u{2421}'),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

fn needs_showing(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        c if c.is_control() => true,
        '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}' => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_output_are_made_visible() {
        let cases = [
            ("plain text\n\tindented", "plain text\n\tindented"),
            ("a\0b", "a\u{2400}b"),
            ("\x1b[2J\x1b[31mred", "\u{241b}[2J\u{241b}[31mred"),
            ("progress\rdone\r\n", "progress\u{240d}done\u{240d}\n"),
            ("bell\x07 del\x7f", "bell\u{2407} del\u{2421}"),
            ("c1 \u{85} \u{9b}", "c1 \\u{85} \\u{9b}"),
            ("evil\u{202e}txt.exe", "evil\\u{202e}txt.exe"),
            ("zero\u{200b}width", "zero\\u{200b}width"),
            ("émoji 🙂 ok", "émoji 🙂 ok"),
        ];
        for (raw, shown) in cases {
            assert_eq!(visible(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn note_head_is_visible_but_the_kept_file_is_raw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output").join("r.log");
        let mut stdout = b"\x1b[31mred\0\r\n".to_vec();
        stdout.extend(std::iter::repeat_n(b'x', NOTE_HEAD));
        let (head, truncated) = keep_output(&path, &stdout, b"err\x07");
        assert!(truncated);
        assert!(
            head.starts_with("\u{241b}[31mred\u{2400}\u{240d}\nxxx"),
            "{head:?}"
        );
        assert!(!head.contains('\x1b') && !head.contains('\0'));
        let mut want = stdout.clone();
        want.extend_from_slice(b"\n--- stderr ---\nerr\x07");
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }

    #[test]
    fn short_output_is_kept_too_and_no_output_leaves_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.log");
        let (head, truncated) = keep_output(&path, b"ok\r\n", b"warn\n");
        assert_eq!(
            (head.as_str(), truncated),
            ("ok\u{240d}\n\n--- stderr ---\nwarn\n", false)
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"ok\r\n\n--- stderr ---\nwarn\n"
        );
        let empty = dir.path().join("e.log");
        assert_eq!(keep_output(&empty, b"", b""), (String::new(), false));
        assert_eq!(std::fs::read(&empty).unwrap(), b"");
    }
}
