//! Which lines of a note are hidden from the reader as plain markdown:
//! inside a fenced code block (```` ``` ```` or `~~~`), an HTML comment
//! (`<!-- -->`) or an Obsidian comment (`%% %%`).
//!
//! A block that is opened and never closed is read two ways. To find a
//! note's sections it is plain text, so a stray fence can't swallow the
//! daemon's own sections (and make each rewrite copy them again). To find
//! decision gestures it runs to the end, as Obsidian shows it: a tick below
//! an unclosed fence is code, not a decision.

/// What an opener that never closes means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclosed {
    /// Plain text: the opener hides nothing.
    Text,
    /// Hides every line after it.
    RunsToEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Fence(u8, usize),
    Html,
    Percent,
}

/// `(fence character, length, nothing after the fence)`.
fn fence(line: &str) -> Option<(u8, usize, bool)> {
    let t = line.trim_start();
    let c = *t.as_bytes().first()?;
    if c != b'`' && c != b'~' {
        return None;
    }
    let n = t.bytes().take_while(|&b| b == c).count();
    (n >= 3).then(|| (c, n, t[n..].trim().is_empty()))
}

fn percent_toggles(line: &str) -> bool {
    line.matches("%%").count() % 2 == 1
}

fn opens(line: &str) -> Option<Open> {
    if let Some((c, n, _)) = fence(line) {
        return Some(Open::Fence(c, n));
    }
    if line
        .rfind("<!--")
        .is_some_and(|i| !line[i + 4..].contains("-->"))
    {
        return Some(Open::Html);
    }
    percent_toggles(line).then_some(Open::Percent)
}

fn closes(open: Open, line: &str) -> bool {
    match open {
        Open::Fence(c, n) => fence(line).is_some_and(|(c2, n2, bare)| c2 == c && n2 >= n && bare),
        Open::Html => line.contains("-->"),
        Open::Percent => percent_toggles(line),
    }
}

/// For each line, whether it starts hidden: inside a block, or a fence's own
/// delimiter line. A comment's opening line starts visible.
pub fn hidden(lines: &[&str], unclosed: Unclosed) -> Vec<bool> {
    let closable = Closers::new(lines);
    let mut out = vec![false; lines.len()];
    let mut open: Option<Open> = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(o) = open {
            out[i] = true;
            if closes(o, line) {
                open = None;
            }
            continue;
        }
        let Some(o) = opens(line) else { continue };
        if unclosed == Unclosed::RunsToEnd || closable.after(i, o) {
            out[i] = matches!(o, Open::Fence(..));
            open = Some(o);
        }
    }
    out
}

/// The lines that close what `lines` leave open, so that text copied from a
/// note can't hide what follows it.
pub fn closers(lines: &[&str]) -> Vec<String> {
    let mut open: Option<Open> = None;
    for line in lines {
        match open {
            Some(o) if closes(o, line) => open = None,
            Some(_) => {}
            None => open = opens(line),
        }
    }
    match open {
        None => Vec::new(),
        Some(Open::Fence(c, n)) => vec![String::from(c as char).repeat(n)],
        Some(Open::Html) => vec!["-->".into()],
        Some(Open::Percent) => vec!["%%".into()],
    }
}

/// Whether a closer for each kind of block exists at or after each line,
/// computed once so that finding out is linear in the note's length.
struct Closers {
    /// Longest bare fence of backticks / tildes from line `i` on.
    backticks: Vec<usize>,
    tildes: Vec<usize>,
    html: Vec<bool>,
    percent: Vec<bool>,
}

impl Closers {
    fn new(lines: &[&str]) -> Closers {
        let n = lines.len();
        let mut c = Closers {
            backticks: vec![0; n + 1],
            tildes: vec![0; n + 1],
            html: vec![false; n + 1],
            percent: vec![false; n + 1],
        };
        for i in (0..n).rev() {
            let line = lines[i];
            let (mut bt, mut td) = (c.backticks[i + 1], c.tildes[i + 1]);
            if let Some((ch, len, true)) = fence(line) {
                if ch == b'`' {
                    bt = bt.max(len);
                } else {
                    td = td.max(len);
                }
            }
            c.backticks[i] = bt;
            c.tildes[i] = td;
            c.html[i] = c.html[i + 1] || line.contains("-->");
            c.percent[i] = c.percent[i + 1] || percent_toggles(line);
        }
        c
    }

    /// Whether a block opened on line `i` closes on a later line.
    fn after(&self, i: usize, open: Open) -> bool {
        match open {
            Open::Fence(b'`', n) => self.backticks[i + 1] >= n,
            Open::Fence(_, n) => self.tildes[i + 1] >= n,
            Open::Html => self.html[i + 1],
            Open::Percent => self.percent[i + 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hid(text: &str, u: Unclosed) -> Vec<bool> {
        hidden(&text.lines().collect::<Vec<_>>(), u)
    }

    #[test]
    fn closed_blocks_hide_their_lines() {
        let text =
            "a\n```json\nb\n```\nc\n~~~~\nd\n~~~\n~~~~\n<!--\ne\n-->\nf <!-- g -->\n%%\nh\n%%\ni";
        let want = [
            false, true, true, true, false, true, true, true, true, false, true, true, false,
            false, true, true, false,
        ];
        assert_eq!(hid(text, Unclosed::Text), want);
        assert_eq!(hid(text, Unclosed::RunsToEnd), want);
    }

    #[test]
    fn an_unclosed_block_is_text_or_runs_to_the_end() {
        let text = "a\n```\nb\n## Result\n````text\nc";
        assert_eq!(
            hid(text, Unclosed::Text),
            [false, false, false, false, false, false]
        );
        assert_eq!(
            hid(text, Unclosed::RunsToEnd),
            [false, true, true, true, true, true]
        );
        assert_eq!(
            hid("<!--\n- [x] Approve", Unclosed::RunsToEnd),
            [false, true]
        );
    }

    #[test]
    fn a_longer_fence_is_closed_only_by_a_longer_or_equal_one() {
        let text = "````\n```\n## x\n````";
        assert_eq!(hid(text, Unclosed::Text), [true, true, true, true]);
    }

    #[test]
    fn closers_close_what_is_left_open() {
        assert_eq!(closers(&["a", "````text", "b"]), ["````"]);
        assert_eq!(closers(&["<!-- a", "b"]), ["-->"]);
        assert!(closers(&["```", "b", "```"]).is_empty());
    }
}
