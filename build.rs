//! Places the functions a daemon start runs next to each other in the
//! binary (docs/perf-memory.md, "Code pages").
//!
//! The kernel maps a file's pages 64 KB around each page fault, so code
//! scattered over the binary's 13 MB of text made a start map 9 MB of
//! it, for about 2 MB of functions that ran. `link/startup.order` lists
//! them (written by `bench/startup_order.py`); LLD, the linker Rust uses
//! on x86_64 Linux from 1.90, lays them out first, in that order. A name
//! it does not find is skipped: a stale list costs locality, never
//! correctness. It also packs the relocations the dynamic loader applies
//! at start (below). `HITL_LINK_ORDER=0` leaves both to the linker's
//! defaults (for a linker configured by hand that does not know them).

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
    if !lld || var("HITL_LINK_ORDER") == "0" {
        return;
    }
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
            order.display()
        );
    }
    // The start-up's relocations packed (DT_RELR): 35,000 relative ones
    // were 840 KB that the dynamic loader reads at every start. Only where
    // the C library that will load the binary knows the format (glibc
    // 2.36): built for this machine, by this machine's glibc.
    if var("HOST") == var("TARGET") && glibc_minor().is_some_and(|minor| minor >= 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// This machine's glibc minor version (`glibc 2.36` gives 36).
fn glibc_minor() -> Option<u32> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    let (major, minor) = version.split_once('.')?;
    (major == "2").then_some(())?;
    minor.parse().ok()
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
