//! `hitl totp enroll`: makes the authenticator app's secret (0600 in the
//! state folder) and prints its `otpauth://` URI and a QR code to scan.
//! The daemon reads the secret at start: restart it after enrolling.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::trust::{keys, totp};

pub fn enroll(state_dir: &Path, force: bool) -> Result<u8> {
    crate::ipc::private_dir(state_dir)
        .with_context(|| format!("state folder {}", state_dir.display()))?;
    let path = keys::totp_path(state_dir);
    if path.exists() {
        if !force {
            bail!(
                "an authenticator is already enrolled ({}); `hitl totp enroll --force` makes a new secret (the old app's codes stop working)",
                path.display()
            );
        }
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    let secret = totp::new_secret();
    keys::write_private(&path, totp::base32_encode(&secret).as_bytes())?;
    let account = crate::ipc::Caller::from_uid(unsafe_free_uid()).name;
    let uri = totp::uri(&secret, &account);
    if let Some(qr) = totp::qr(&uri) {
        println!("{qr}");
    }
    println!("{uri}");
    println!(
        "\nScan the code (or add the URI) in your authenticator app, then restart hitl. The secret is in {} (mode 0600).",
        path.display()
    );
    Ok(0)
}

/// This process's uid.
fn unsafe_free_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}
