//! The process table as `/proc` shows it, and which processes belong to a
//! handler run: a pure function of that table, table-tested.

use std::collections::{HashMap, HashSet};

/// A process, told apart from a later one with the same pid by its start
/// time.
pub type ProcKey = (i32, u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// Clock ticks after boot.
    pub start: u64,
    pub zombie: bool,
}

impl Proc {
    pub fn key(&self) -> ProcKey {
        (self.pid, self.start)
    }
}

/// Every process visible in `/proc` now.
pub fn table() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parse_stat(pid, &stat)
        })
        .collect()
}

/// `pid (comm) state ppid pgrp ... starttime ...`; the command name may
/// hold spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(pid: i32, stat: &str) -> Option<Proc> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
        zombie: *fields.first()? == "Z",
    })
}

/// The `HITL_REQUEST_ID` a process was started with, if it can be read.
pub fn request_id(pid: i32) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0)
        .find_map(|var| var.strip_prefix(b"HITL_REQUEST_ID="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// What a run claims, for [`members`].
pub struct Claim<'a> {
    /// The daemon's pid: orphans are re-parented to it.
    pub me: i32,
    pub id: &'a str,
    /// The run's leader, until tokio has reaped it.
    pub leader: Option<i32>,
    /// Processes already seen as the run's.
    pub known: &'a HashSet<ProcKey>,
    /// Processes already seen as other runs'.
    pub theirs: &'a HashSet<ProcKey>,
    /// The leaders of every run, this one's included: tokio's children.
    pub leaders: &'a HashSet<i32>,
    /// Orphans nobody claims are taken too (the daemon starts no other
    /// children).
    pub take_strays: bool,
}

/// The processes of a run: its leader and the orphans it claims, with all
/// their descendants, exited ones not yet reaped included.
pub fn members(
    table: &[Proc],
    claim: &Claim<'_>,
    request_id: impl Fn(i32) -> Option<String>,
) -> Vec<Proc> {
    let orphan_is_ours = |p: &Proc| {
        if claim.known.contains(&p.key()) {
            return true;
        }
        if claim.theirs.contains(&p.key()) {
            return false;
        }
        match request_id(p.pid) {
            Some(id) => id == claim.id,
            None => claim.take_strays,
        }
    };
    let mut roots: Vec<i32> = table
        .iter()
        .filter(|p| !p.zombie && p.ppid == claim.me && !claim.leaders.contains(&p.pid))
        .filter(|p| orphan_is_ours(p))
        .map(|p| p.pid)
        .collect();
    roots.extend(claim.leader);
    let mut children: HashMap<i32, Vec<&Proc>> = HashMap::new();
    for p in table {
        children.entry(p.ppid).or_default().push(p);
    }
    let by_pid: HashMap<i32, &Proc> = table.iter().map(|p| (p.pid, p)).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while let Some(pid) = roots.pop() {
        if pid == claim.me || !seen.insert(pid) {
            continue;
        }
        if let Some(p) = by_pid.get(&pid) {
            out.push((*p).clone());
        }
        roots.extend(children.get(&pid).into_iter().flatten().map(|c| c.pid));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32) -> Proc {
        Proc {
            pid,
            ppid,
            start: 7,
            zombie: false,
        }
    }

    #[test]
    fn stat_lines_with_odd_command_names() {
        let line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1 2 3";
        let got = parse_stat(4242, line).unwrap();
        assert_eq!((got.ppid, got.start, got.zombie), (1, 98765, false));
        let z = parse_stat(5, "5 (sh) Z 9 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 11 0").unwrap();
        assert!(z.zombie);
        assert!(parse_stat(5, "garbage").is_none());
    }

    #[test]
    fn this_process_is_in_the_table() {
        let me = std::process::id() as i32;
        let t = table();
        let mine = t.iter().find(|p| p.pid == me).expect("own entry");
        assert_eq!(mine.ppid, std::os::unix::process::parent_id() as i32);
    }

    /// Daemon 100; run "a" has leader 200 (child 201, grandchild 202 that
    /// left the group); orphans 300 (run "a"'s env), 301 (run "b"'s env),
    /// 302 (no env) with child 303, 304 (seen before as "a"'s, env cleared),
    /// 305 (seen as "b"'s); 400 is run "b"'s leader; 500 is unrelated.
    #[test]
    fn which_processes_belong_to_a_run() {
        let table = vec![
            p(100, 1),
            p(200, 100),
            p(201, 200),
            p(202, 201),
            p(300, 100),
            p(301, 100),
            p(302, 100),
            p(303, 302),
            p(304, 100),
            p(305, 100),
            p(400, 100),
            p(401, 400),
            p(500, 1),
            Proc {
                zombie: true,
                ..p(306, 100)
            },
        ];
        let env = |pid| match pid {
            300 => Some("a".to_string()),
            301 | 400 | 401 => Some("b".to_string()),
            _ => None,
        };
        let known = HashSet::from([(304, 7)]);
        let theirs = HashSet::from([(305, 7)]);
        let leaders = HashSet::from([200, 400]);
        let cases = [
            (Some(200), false, vec![200, 201, 202, 300, 304]),
            (Some(200), true, vec![200, 201, 202, 300, 302, 303, 304]),
            (None, false, vec![300, 304]),
        ];
        for (leader, take_strays, want) in cases {
            let claim = Claim {
                me: 100,
                id: "a",
                leader,
                known: &known,
                theirs: &theirs,
                leaders: &leaders,
                take_strays,
            };
            let mut got: Vec<i32> = members(&table, &claim, env).iter().map(|p| p.pid).collect();
            got.sort();
            assert_eq!(got, want, "leader {leader:?}, strays {take_strays}");
        }
    }
}
