//! `hitl service install|uninstall`: the systemd user unit.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::json;

/// The unit template; `@EXEC_START@` becomes the command line and
/// `@DOCUMENTATION@` the manual page's address.
pub const UNIT: &str = include_str!("../../systemd/hitl.service.in");

/// What the unit runs: absolute paths.
pub struct Unit<'a> {
    pub vault: &'a Path,
    pub config: Option<&'a Path>,
    pub state: Option<&'a Path>,
    /// The manual page written beside the unit.
    pub man: &'a Path,
}

/// The unit with the binary, vault, and any explicit config and state folder.
pub fn unit(bin: &Path, u: &Unit) -> String {
    let mut exec = format!("{} run --vault {}", quote(bin), quote(u.vault));
    if let Some(c) = u.config {
        exec.push_str(&format!(" --config {}", quote(c)));
    }
    if let Some(s) = u.state {
        exec.push_str(&format!(" --state-dir {}", quote(s)));
    }
    UNIT.replace("@EXEC_START@", &exec)
        .replace("@DOCUMENTATION@", &file_uri(u.man))
}

/// A `file://` URI for `Documentation=`: a space-separated list, so
/// spaces, `%` and other unsafe bytes are percent-encoded.
fn file_uri(p: &Path) -> String {
    let mut out = String::from("file://");
    for b in p.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(b) {
            out.push(char::from(*b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

/// Where the manual page goes: ~/.local/share/man/man1/hitl.1.
pub fn man_path() -> Result<PathBuf> {
    let base = directories::BaseDirs::new().context("no home folder")?;
    Ok(base.data_dir().join("man/man1/hitl.1"))
}

fn write_man(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, super::extra::man_page()?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes the unit. An installed unit that differs is replaced only with
/// `force`; without it the differing lines are shown.
pub fn install(u: &Unit, force: bool, json: bool) -> Result<u8> {
    let bin = std::env::current_exe().context("finding the hitl binary")?;
    let text = unit(&bin, u);
    let path = unit_path()?;
    let old = std::fs::read_to_string(&path).ok();
    let state = match &old {
        Some(o) if *o == text => "unchanged",
        Some(o) if !force => {
            eprintln!("{} is installed and differs:", path.display());
            for line in changed_lines(o, &text) {
                eprintln!("  {line}");
            }
            bail!("not overwritten; pass --force to replace it");
        }
        Some(_) => "replaced",
        None => "written",
    };
    write_man(u.man)?;
    if state != "unchanged" {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        println!(
            "{}",
            json!({ "unit": path.display().to_string(), "state": state, "vault": u.vault.display().to_string() })
        );
        return Ok(0);
    }
    println!("{} {}", path.display(), state);
    println!("now enable and start it (a running one: restart it):");
    println!("  systemctl --user daemon-reload");
    println!("  systemctl --user enable --now hitl");
    println!("to keep it running while you are logged out:");
    println!(
        "  loginctl enable-linger {}",
        std::env::var("USER").unwrap_or_else(|_| "$USER".into())
    );
    Ok(0)
}

/// `- old` / `+ new` for the lines that differ.
fn changed_lines(old: &str, new: &str) -> Vec<String> {
    let (o, n): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut out: Vec<String> = o
        .iter()
        .filter(|l| !n.contains(l))
        .map(|l| format!("- {l}"))
        .collect();
    out.extend(
        n.iter()
            .filter(|l| !o.contains(l))
            .map(|l| format!("+ {l}")),
    );
    out
}

/// Stops and disables the unit through `systemctl --user` (where there is
/// one), removes the file, reloads systemd; says what it did.
pub fn uninstall() -> Result<u8> {
    let path = unit_path()?;
    if !path.exists() {
        println!("{} is not installed", path.display());
        return Ok(0);
    }
    let mut manual = Vec::new();
    for (args, did) in [
        (&["stop", "hitl"][..], "stopped hitl"),
        (&["disable", "hitl"][..], "disabled hitl"),
    ] {
        match systemctl(args) {
            Ok(()) => println!("{did}"),
            Err(why) => {
                println!("could not run systemctl --user {}: {why}", args.join(" "));
                manual.push(format!("systemctl --user {}", args.join(" ")));
            }
        }
    }
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    println!("removed {}", path.display());
    if let Ok(man) = man_path() {
        let _ = std::fs::remove_file(man);
    }
    match systemctl(&["daemon-reload"]) {
        Ok(()) => println!("reloaded systemd's user units"),
        Err(_) => manual.push("systemctl --user daemon-reload".into()),
    }
    if !manual.is_empty() {
        println!("left for you to do, once a user session is there:");
        for m in manual {
            println!("  {m}");
        }
    }
    Ok(0)
}

fn systemctl(args: &[&str]) -> Result<(), String> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err.lines().next().unwrap_or("failed").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_in_the_command_line() {
        let u = unit(
            Path::new("/usr/bin/hitl"),
            &Unit {
                vault: Path::new("/home/me/My Vault"),
                config: None,
                state: None,
                man: Path::new("/home/me/My Man/man1/hitl.1"),
            },
        );
        assert!(
            u.contains("ExecStart=/usr/bin/hitl run --vault \"/home/me/My Vault\"\n"),
            "{u}"
        );
        assert!(u.contains("Type=notify") && u.contains("ExecReload=/bin/kill -HUP $MAINPID"));
        assert!(
            u.contains("Documentation=file:///home/me/My%20Man/man1/hitl.1\n"),
            "{u}"
        );
        assert!(!u.contains("@EXEC_START@"));
    }
}
