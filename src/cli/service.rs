//! `hitl service install|uninstall`: the systemd user unit.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The unit template; `@EXEC_START@` becomes the command line.
pub const UNIT: &str = include_str!("../../systemd/hitl.service");

/// The unit with the binary, vault, and any explicit config and state folder.
pub fn unit(bin: &Path, vault: &Path, config: Option<&Path>, state: Option<&Path>) -> String {
    let mut exec = format!("{} run --vault {}", quote(bin), quote(vault));
    if let Some(c) = config {
        exec.push_str(&format!(" --config {}", quote(c)));
    }
    if let Some(s) = state {
        exec.push_str(&format!(" --state-dir {}", quote(s)));
    }
    UNIT.replace("@EXEC_START@", &exec)
}

/// systemd's quoting for ExecStart arguments.
fn quote(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+@:,".contains(c))
    {
        s
    } else {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('%', "%%")
        )
    }
}

pub fn unit_path() -> Result<PathBuf> {
    let base = directories::BaseDirs::new().context("no home folder")?;
    Ok(base.config_dir().join("systemd/user/hitl.service"))
}

pub fn install(vault: &Path, config: Option<&Path>, state: Option<&Path>) -> Result<u8> {
    let bin = std::env::current_exe().context("finding the hitl binary")?;
    let vault = std::path::absolute(vault)?;
    let config = config.map(std::path::absolute).transpose()?;
    let state = state.map(std::path::absolute).transpose()?;
    let path = unit_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        &path,
        unit(&bin, &vault, config.as_deref(), state.as_deref()),
    )
    .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    println!("now enable and start it:");
    println!("  systemctl --user daemon-reload");
    println!("  systemctl --user enable --now hitl");
    println!("to keep it running while you are logged out:");
    println!(
        "  loginctl enable-linger {}",
        std::env::var("USER").unwrap_or_else(|_| "$USER".into())
    );
    Ok(0)
}

pub fn uninstall() -> Result<u8> {
    let path = unit_path()?;
    println!("first stop and disable it:");
    println!("  systemctl --user disable --now hitl");
    match std::fs::remove_file(&path) {
        Ok(()) => println!("removed {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("{} was not installed", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    println!("then: systemctl --user daemon-reload");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_in_the_command_line() {
        let u = unit(
            Path::new("/usr/bin/hitl"),
            Path::new("/home/me/My Vault"),
            None,
            None,
        );
        assert!(
            u.contains("ExecStart=/usr/bin/hitl run --vault \"/home/me/My Vault\"\n"),
            "{u}"
        );
        assert!(u.contains("Type=notify") && u.contains("ExecReload=/bin/kill -HUP $MAINPID"));
        assert!(!u.contains('@'));
    }
}
