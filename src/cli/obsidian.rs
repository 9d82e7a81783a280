//! hitl's own files in the vault's Obsidian setup: `Approvals.base` and the
//! types of hitl's properties in `.obsidian/types.json`.
//!
//! `types.json` is the vault's, shared with every other plugin and note:
//! hitl only adds the properties the vault has no type for, and names each
//! one the vault types differently instead of changing it.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

/// The Bases file, views over the notes' own properties only.
pub(super) const BASE: &str = include_str!("../../config/Approvals.base");

/// The types of the properties a request note carries, as Obsidian names them.
pub(super) const PROPERTY_TYPES: &[(&str, &str)] = &[
    ("type", "text"),
    ("hitl_id", "text"),
    ("action", "text"),
    ("status", "text"),
    ("risk", "text"),
    ("summary", "text"),
    ("rationale", "text"),
    ("requested_by", "text"),
    ("created", "datetime"),
    ("expires", "datetime"),
    ("payload_sha256", "text"),
    ("decided_by", "text"),
    ("decided_at", "datetime"),
    ("executed_at", "datetime"),
    ("exit_code", "number"),
    ("decision_reason", "text"),
    ("code", "text"),
];

/// A `types.json` bigger than this is not one Obsidian wrote.
const MAX_TYPES_BYTES: u64 = 1 << 20;

/// What registering the types did.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Registered {
    pub added: Vec<&'static str>,
    /// `(property, the vault's type, hitl's type)`, left as the vault has it.
    pub differ: Vec<(&'static str, String, &'static str)>,
}

/// Adds hitl's property types that `types` (the file's JSON) lacks.
pub(super) fn merge_types(types: &mut Map<String, Value>) -> Registered {
    let mut done = Registered::default();
    let entry = types
        .entry("types")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(table) = entry else {
        return done;
    };
    for (name, kind) in PROPERTY_TYPES {
        match table.get(*name) {
            None => {
                table.insert((*name).into(), Value::String((*kind).into()));
                done.added.push(name);
            }
            Some(Value::String(k)) if k == kind => {}
            Some(other) => {
                let theirs = other
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| other.to_string());
                done.differ.push((name, theirs, kind));
            }
        }
    }
    done
}

/// Registers hitl's property types in `<vault>/.obsidian/types.json`.
/// A file that isn't a JSON object is left alone, with an error.
pub(super) fn register_types(vault: &Path) -> Result<Registered> {
    let dir = vault.join(".obsidian");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("types.json");
    let mut types = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        Ok(meta) => {
            anyhow::ensure!(
                meta.is_file() && meta.len() <= MAX_TYPES_BYTES,
                "{} is not a regular file of at most 1 MiB: left alone",
                path.display()
            );
            let text = std::fs::read_to_string(&path)?;
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                _ => anyhow::bail!("{} is not a JSON object: left alone", path.display()),
            }
        }
    };
    let done = merge_types(&mut types);
    if !done.added.is_empty() {
        let text = serde_json::to_string_pretty(&Value::Object(types))? + "\n";
        crate::vault::write_atomic(&path, &text)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn approvals_base() {
        insta::assert_snapshot!(BASE);
    }

    #[test]
    fn the_base_uses_only_properties_notes_carry() {
        let carried: Vec<&str> = PROPERTY_TYPES.iter().map(|(n, _)| *n).collect();
        for n in &carried[..15] {
            assert!(crate::note::DAEMON_KEYS.contains(n), "{n}");
        }
        for line in BASE.lines().map(str::trim) {
            let Some(item) = line.strip_prefix("- ") else {
                continue;
            };
            let prop = match item.strip_prefix("property: ") {
                Some(p) => p,
                None if item.contains(": ") => continue,
                None => item.split(" == ").next().unwrap_or(item),
            };
            if prop != "file.name" {
                assert!(
                    crate::note::DAEMON_KEYS.contains(&prop),
                    "`{prop}` is no note property"
                );
            }
        }
    }

    #[test]
    fn types_are_added_where_missing_and_a_different_type_is_kept_and_named() {
        let mut types = json!({"types": {"created": "date", "status": "text", "mine": "number"}})
            .as_object()
            .cloned()
            .unwrap();
        let done = merge_types(&mut types);
        assert_eq!(
            done.differ,
            vec![("created", "date".to_string(), "datetime")]
        );
        assert!(done.added.contains(&"expires") && !done.added.contains(&"status"));
        assert_eq!(types["types"]["created"], "date");
        assert_eq!(types["types"]["mine"], "number");
        assert_eq!(types["types"]["decided_at"], "datetime");
        assert_eq!(types["types"]["exit_code"], "number");
    }
}
