//! The notes a periodic reconcile `stat`s without listing their folder:
//! a share of the known notes of `Done/` although no file event named them
//! (see [`Sweep`]), and every note of a folder of open notes unchanged
//! since its last listing ([`stat_unlisted`]).

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::dir::{Dir, stamp_of_fd};
use super::held::Held;
use super::{Listing, Plan, Seen, in_path_order, look, read_note};
use crate::vault::{Folder, Kind, Stamp, classify};

/// About how many known notes of `Done/` a periodic reconcile `stat`s.
const DONE_SWEEP: usize = 1024;

/// The share of the known notes of `Done/` a periodic reconcile `stat`s
/// although no file event named them: a file event is not a sure sign of
/// every edit (a write through a hard link outside the vault reports only
/// to the folder of that other name), so each such note is `stat`ed once
/// every `shares` reconciles, at a cost of about [`DONE_SWEEP`] `stat`s
/// per reconcile whatever the history's size.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sweep {
    turn: u64,
    shares: u64,
}

impl Sweep {
    pub(super) fn of(plan: &Plan) -> Sweep {
        let known: usize = plan
            .dirs
            .iter()
            .filter(|(_, folder)| *folder == Some(Folder::Done))
            .filter_map(|(dir, _)| plan.known.get(dir.as_os_str()))
            .map(|here| here.len())
            .sum();
        Sweep {
            turn: plan.turn,
            shares: known.div_ceil(DONE_SWEEP).max(1) as u64,
        }
    }

    /// Whether this reconcile's share holds the note named `name` (FNV-1a
    /// of the name: the same share at every reconcile).
    pub(super) fn covers(&self, name: &OsStr) -> bool {
        let hash = name
            .as_bytes()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            });
        self.shares <= 1 || hash % self.shares == self.turn % self.shares
    }
}

/// In a folder of `Done/` not listed (unchanged since its last listing),
/// the known notes of this reconcile's share, `stat`ed by name and read if
/// their stamp changed.
pub(super) fn sweep_unlisted(plan: &Plan, dir: &Path, sweep: Sweep, out: &mut Listing) {
    let Some(here) = plan.known.get(dir.as_os_str()) else {
        return;
    };
    let first = out.seen.len();
    let ours = |name: &OsStr| classify(&name.to_string_lossy()) == Kind::Note && sweep.covers(name);
    for (name, known) in here.iter().filter(|(name, _)| ours(name)) {
        let path = dir.join(name);
        let same = std::fs::symlink_metadata(&path).is_ok_and(|m| Stamp::of(&m) == known.stamp);
        if same && known.stamp.settled_at(known.at) {
            out.unchanged += 1;
            continue;
        }
        let read = read_note(&plan.vault, &path, plan.cap);
        out.seen
            .push(Seen::Read(path, Folder::Done, Box::new(read)));
    }
    in_path_order(&mut out.seen[first..]);
}

/// In a folder of open notes unchanged since its last listing (whose
/// files are then exactly the ones the engine knows there), each known
/// file `stat`ed and looked at as a listing would: the per-note `stat`
/// stays (an edit through a hard link outside the vault, or through
/// `mmap`, reports no event), the listing and the lookup of each listed
/// name among the stamps go. A file with a descriptor held on it is
/// `stat`ed through it, the others by name (see `scan_held.rs`). `None`
/// if cancelled.
pub(super) fn stat_unlisted(
    plan: &Plan,
    dir: &Path,
    folder: Option<Folder>,
    sweep: Sweep,
    mut held: Option<&mut Held>,
    out: &mut Listing,
) -> Option<()> {
    let (Some(here), Some(opened)) = (plan.known.get(dir.as_os_str()), Dir::open(dir)) else {
        return Some(());
    };
    let first = out.seen.len();
    let mut row = held.as_mut().map(|h| h.take(dir));
    let mut name = Vec::new();
    for (known_name, known) in here.iter() {
        if plan.cancel.load(Ordering::Relaxed) {
            return None;
        }
        out.count += 1;
        out.unlisted += 1;
        // Through the descriptor held on the file, if any: no name to
        // look up, nor to copy.
        if let Some(fd) = row.as_mut().and_then(|r| r.next(&known.stamp)) {
            let stamp = || stamp_of_fd(fd);
            match look(plan, dir, known_name, stamp, Some(known), folder, sweep) {
                Some(seen) => out.seen.push(seen),
                None => {
                    out.unchanged += 1;
                    out.held += 1;
                }
            }
            continue;
        }
        name.clear();
        name.extend_from_slice(known_name.as_bytes());
        name.push(0);
        // A file name holds no NUL: "" names no file.
        let name = CStr::from_bytes_with_nul(&name).unwrap_or_default();
        let stamp = || opened.named(name).stamp();
        let seen = look(plan, dir, known_name, stamp, Some(known), folder, sweep);
        if let Some(row) = row.as_mut() {
            row.keep(opened.fd(), name, &known.stamp, seen.is_none());
        }
        match seen {
            Some(seen) => out.seen.push(seen),
            None => out.unchanged += 1,
        }
    }
    if let (Some(held), Some(row)) = (held, row) {
        held.put(dir, row);
    }
    in_path_order(&mut out.seen[first..]);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_done_note_is_in_one_share_of_as_many_reconciles_as_there_are_shares() {
        let names: Vec<String> = (0..5000).map(|i| format!("pay-{i:05}.md")).collect();
        let shares = 5000_usize.div_ceil(DONE_SWEEP) as u64;
        assert!(shares > 1);
        let mut per_turn = Vec::new();
        for name in &names {
            let covering: Vec<u64> = (7..7 + shares)
                .filter(|&turn| Sweep { turn, shares }.covers(OsStr::new(name)))
                .collect();
            assert_eq!(covering.len(), 1, "{name}: {covering:?}");
            per_turn.push(covering[0]);
        }
        // About an even share each: no reconcile `stat`s them all.
        for turn in 7..7 + shares {
            let n = per_turn.iter().filter(|&&t| t == turn).count();
            assert!(n < 2 * DONE_SWEEP, "turn {turn}: {n}");
        }
    }
}
