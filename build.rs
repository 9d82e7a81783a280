//! Places the functions a daemon start runs next to each other in the
//! binary (docs/perf-memory.md, "Code pages").
//!
//! The kernel maps a file's pages 64 KB around each page fault, so code
//! scattered over the binary's 13 MB of text made a start map 9 MB of
//! it, for about 2 MB of functions that ran. `link/startup.order` lists
//! them (written by `bench/startup_order.py`); LLD, the linker Rust uses
//! on x86_64 Linux from 1.90, lays them out first, in that order. A name
//! it does not find is skipped: a stale list costs locality, never
//! correctness. `HITL_LINK_ORDER=0` leaves the layout to the linker (for
//! a linker configured by hand that does not know the option).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/startup.order");
    println!("cargo:rerun-if-env-changed=HITL_LINK_ORDER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let lld = var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && rustc_minor().is_some_and(|minor| minor >= 90);
    let order = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("link/startup.order");
    if lld && var("HITL_LINK_ORDER") != "0" && order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
            order.display()
        );
    }
}

/// The compiler's minor version (`rustc 1.95.0 (...)` gives 95).
fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.split_whitespace()
        .nth(1)?
        .split('.')
        .nth(1)?
        .parse()
        .ok()
}
