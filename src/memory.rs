//! The daemon's use of the C allocator (glibc malloc), so its resident
//! memory follows what it holds rather than its peaks.
//!
//! Two things kept a daemon with 10,000 open requests at about twice the
//! heap it used (docs/perf-memory.md):
//!
//! - **arenas**: glibc gives each thread that allocates an arena of its
//!   own (up to eight per core), and memory freed in one arena is reused
//!   only by the threads of that arena. Start-up allocates on the engine
//!   thread, tokio's workers, the blocking pool's readers and the
//!   dashboard's thread; each arena kept its own high-water mark.
//!   [`tune`] caps them at two: the daemon's threads rarely
//!   allocate at the same time, so contention is not a cost here.
//! - **peaks**: a checkpoint read, the start-up reconcile, a burst of note
//!   rewrites allocate transiently. What they free in the middle of a heap
//!   stays resident until something trims it; glibc trims only the top.
//!   [`trim`] gives every arena's free pages back to the kernel
//!   (`malloc_trim(0)`), once such bulk work ends; and [`tune`] makes
//!   large buffers mappings of their own, unmapped when freed.
//!
//! Both are no-ops where the allocator is not glibc's.

/// Caps the number of malloc arenas and fixes the size from which a
/// block gets its own mapping; call first thing in the process, before
/// threads start (a later cap applies to arenas made after it).
///
/// glibc raises that size each time a mapped block is freed (up to
/// 32 MB), so after the first large buffer (a page of 10,000 rows, a
/// checkpoint section) every later one came from the heap and its pages
/// stayed resident. Fixed, a large buffer is unmapped when freed.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters; 1 means taken.
        let arenas = unsafe { libc::mallopt(libc::M_ARENA_MAX, ARENAS) } == 1;
        let mmap = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_FROM) } == 1;
        tracing::debug!(arenas, mmap, "malloc tuned");
    }
}

/// How many malloc arenas the daemon's threads share.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Blocks from this size get a mapping of their own, given back when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_FROM: libc::c_int = 256 * 1024;

/// Gives the allocator's free pages back to the kernel, after bulk work
/// (`after` says which, for the log). Costs a walk of the free lists: a
/// few milliseconds for tens of MB, so it runs when bulk work ends, not
/// per input.
pub fn trim(after: &'static str) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::time::Instant::now();
        // SAFETY: malloc_trim only returns free memory to the kernel.
        let released = unsafe { libc::malloc_trim(0) } == 1;
        tracing::debug!(
            after,
            released,
            took_us = started.elapsed().as_micros() as u64,
            "allocator trimmed"
        );
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = after;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_after_freeing_a_large_transient_peak_keeps_the_heap_usable() {
        tune();
        let peak: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8; 1024]).collect();
        let kept: Vec<u8> = peak.iter().step_by(512).flatten().copied().collect();
        drop(peak);
        trim("a test's peak");
        // What was kept survives the trim, and the heap still allocates.
        assert_eq!(kept.len(), 8 * 1024);
        assert!(kept[..1024].iter().all(|&b| b == 0));
        assert!(kept[1024..2048].iter().all(|&b| b == 0));
        let again = vec![7u8; 1 << 20];
        assert_eq!(again.iter().map(|&b| b as usize).sum::<usize>(), 7 << 20);
    }
}
