//! Setting up and checking: `init`, the vault check before `run`, and
//! `audit verify`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::place::{ERROR, Place};
use super::style;
use crate::config;
use crate::journal;

/// Refuses a vault that doesn't exist (a mistyped path must not become a
/// new, empty vault) and warns once about a folder Obsidian never opened.
pub(super) fn check_vault(vault: &Path) -> Result<()> {
    if !vault.is_dir() {
        bail!(
            "the vault {} does not exist (a typo?); create one with: hitl init --vault {}",
            vault.display(),
            vault.display()
        );
    }
    if !vault.join(".obsidian").is_dir() {
        tracing::warn!(
            vault = %vault.display(),
            "the vault has no .obsidian/ folder: open it in Obsidian as a vault (or check the path)"
        );
    }
    Ok(())
}

/// What `init` did, for people and for `--json`.
#[derive(Default)]
struct Done {
    config_written: bool,
    config_kept_vault: Option<String>,
    base_written: bool,
    types: super::obsidian::Registered,
}

pub(super) fn init(p: &Place, upgrade: bool, force: bool, json: bool) -> Result<u8> {
    let vault = p
        .vault
        .clone()
        .context("give the vault: hitl init --vault DIR")?;
    let v = crate::vault::Vault::new(vault.clone(), p.config.folders.clone());
    v.create_folders()
        .with_context(|| format!("creating folders in {}", vault.display()))?;
    let mut done = Done::default();
    if force || !p.config_path.exists() {
        write_config(&p.config_path, &vault, json)?;
        done.config_written = true;
    } else {
        done.config_kept_vault = Some(
            p.config
                .vault
                .as_ref()
                .map(|v| v.display().to_string())
                .unwrap_or_default(),
        );
    }
    let base = vault.join("Approvals.base");
    if upgrade || !base.exists() {
        crate::vault::write_atomic(&base, super::obsidian::BASE)
            .with_context(|| format!("writing {}", base.display()))?;
        done.base_written = true;
    }
    done.types = super::obsidian::register_types(&vault)?;
    for (name, theirs, ours) in &done.types.differ {
        eprintln!(
            "hitl: warning: the vault types the property `{name}` as {theirs}, hitl writes it as {ours}: Obsidian may show it wrongly (left as it is; change it in .obsidian/types.json or the property's menu)"
        );
    }
    if json {
        println!(
            "{}",
            json!({
                "vault": vault.display().to_string(),
                "config": p.config_path.display().to_string(),
                "config_written": done.config_written,
                "config_vault": done.config_kept_vault.clone().unwrap_or_else(|| vault.display().to_string()),
                "approvals_base_written": done.base_written,
                "property_types_added": done.types.added,
                "property_types_differ": done.types.differ.iter().map(|(n, _, _)| n).collect::<Vec<_>>(),
            })
        );
        return Ok(0);
    }
    tell_init(p, &vault, &done);
    Ok(0)
}

fn write_config(path: &Path, vault: &Path, quiet: bool) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        let backup = path.with_extension("yaml.bak");
        std::fs::copy(path, &backup)
            .with_context(|| format!("keeping a copy in {}", backup.display()))?;
        if !quiet {
            println!("the old config is kept in {}", backup.display());
        }
    }
    let text = config::EXAMPLE.replacen(
        "# vault: ~/Obsidian/MyVault",
        &format!("vault: {}", vault.display()),
        1,
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn tell_init(p: &Place, vault: &Path, done: &Done) {
    let config = p.config_path.display();
    if done.config_written {
        println!("wrote {config}");
    }
    match &done.config_kept_vault {
        Some(old) if Path::new(old) != vault => {
            let old = if old.is_empty() { "(none)" } else { old };
            println!(
                "kept {config}: its vault is still {old}, so a plain `hitl run` watches that one.\n  to use {} instead: edit `vault:` in {config}, or rewrite the config with: hitl init --vault {} --force",
                vault.display(),
                vault.display()
            );
        }
        Some(_) => println!("kept {config} (it already names this vault)"),
        None => {}
    }
    if done.base_written {
        println!("wrote {}", vault.join("Approvals.base").display());
    }
    if !done.types.added.is_empty() {
        println!(
            "registered the types of {} in {}",
            style::count(done.types.added.len(), "property"),
            vault.join(".obsidian/types.json").display()
        );
    }
    println!(
        "vault ready: {}\nstart the daemon with: hitl run --vault {}",
        vault.display(),
        vault.display()
    );
}

/// Checks the chain and prints the head, to compare with a copy kept
/// elsewhere. A torn last line is not intact: exit 1.
pub(super) fn audit_verify(path: &Path, json: bool) -> Result<u8> {
    let mut v = journal::verify(path)?;
    if v.torn.is_some() {
        // Perhaps an append in progress: look once more.
        v = journal::verify(path)?;
    }
    if json {
        println!(
            "{}",
            json!({
                "journal": path.display().to_string(),
                "intact": v.torn.is_none(),
                "events": v.events,
                "keyed": v.keyed,
                "head": v.head.as_ref().map(|(seq, hash)| json!({"seq": seq, "hash": hash, "mac": v.keyed.then_some(hash)})),
                "torn": v.torn.as_ref().map(|t| json!({"line": t.line, "bytes": t.bytes})),
            })
        );
        return Ok(if v.torn.is_some() { ERROR } else { 0 });
    }
    let head = match &v.head {
        Some((seq, hash)) if v.keyed => format!("head: seq {seq}, mac {hash}"),
        Some((seq, hash)) => format!("head: seq {seq}, hash {hash}"),
        None => "head: none (the journal is empty)".to_string(),
    };
    let events = style::count(v.events as usize, "event");
    match &v.torn {
        None => {
            println!(
                "journal {} is intact: {events}, {} chain verified\n{head}",
                path.display(),
                if v.keyed {
                    "HMAC-SHA256 (keyed)"
                } else {
                    "SHA-256 hash (unkeyed: the daemon keys it at its next start)"
                }
            );
            Ok(0)
        }
        Some(t) => {
            println!(
                "journal {} is NOT intact: its last line (line {}, {} bytes) is torn, an append cut short (e.g. by a power loss).\n  the {events} before it are verified; the daemon cuts the torn line off when it next starts\n{head}",
                path.display(),
                t.line,
                t.bytes,
            );
            Ok(ERROR)
        }
    }
}
