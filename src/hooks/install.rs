//! `hitl hook install HARNESS`: the hook entry written into (or merged
//! with) the harness's settings file. Every other setting is kept; an
//! entry of an earlier install is replaced, so installing twice leaves one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::ordered::Ordered;
use super::{Harness, OnTimeout, TimeoutUnit};

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not a JSON object ({why}); fix it or move it away, it is left as it is")]
    NotJson { path: PathBuf, why: String },
    #[error("{path}: `{key}` is not {what}; it is left as it is")]
    Shape {
        path: PathBuf,
        key: String,
        what: &'static str,
    },
}

/// What to install.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The command the harness runs.
    pub command: String,
    /// hitl's wait; the harness's hook timeout is set above it.
    pub wait: Duration,
}

/// How much longer than hitl's wait the harness gives the hook.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(30);

impl Entry {
    pub fn new(h: &Harness, wait: Duration, on_timeout: OnTimeout) -> Entry {
        let mut command = format!("hitl hook {}", h.name);
        if wait != super::run::DEFAULT_WAIT {
            command.push_str(&format!(" --wait {}s", wait.as_secs()));
        }
        if on_timeout != OnTimeout::Deny {
            let name = clap::ValueEnum::to_possible_value(&on_timeout)
                .map(|v| v.get_name().to_string())
                .unwrap_or_default();
            command.push_str(&format!(" --on-timeout {name}"));
        }
        Entry { command, wait }
    }

    fn timeout(&self, unit: TimeoutUnit) -> u64 {
        let t = self.wait + TIMEOUT_MARGIN;
        match unit {
            TimeoutUnit::Seconds => t.as_secs(),
            TimeoutUnit::Milliseconds => t.as_millis() as u64,
        }
    }
}

/// The settings file: under the project folder, else the home folder.
pub fn settings_path(h: &Harness, base: &Path) -> PathBuf {
    base.join(h.settings.path)
}

/// The file's new text, and whether it differs from the old.
pub fn merge(
    h: &Harness,
    path: &Path,
    old: Option<&str>,
    entry: &Entry,
) -> Result<(String, bool), InstallError> {
    // The file's own key order, to write it back in.
    let order = old.and_then(|o| serde_json::from_str::<Ordered>(o).ok());
    let mut root = match old.map(str::trim) {
        None | Some("") => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(not_json(path, "not an object")),
            Err(e) => return Err(not_json(path, &e.to_string())),
        },
    };
    if h.settings.versioned {
        root.entry("version").or_insert(json!(1));
    }
    let hooks = object(&mut root, "hooks", path)?;
    for (event, matcher) in h.settings.entries {
        let list = array(hooks, event, path)?;
        remove_ours(list, h);
        list.push(hook_entry(h, entry, *matcher));
    }
    let arranged = Ordered::arrange(&Value::Object(root), order.as_ref());
    let mut text = serde_json::to_string_pretty(&arranged).expect("JSON serialises");
    text.push('\n');
    let changed = old
        .is_none_or(|o| serde_json::from_str::<Value>(o).ok() != serde_json::from_str(&text).ok());
    Ok((text, changed))
}

fn hook_entry(h: &Harness, e: &Entry, matcher: Option<&str>) -> Value {
    let timeout = e.timeout(h.settings.timeout_unit);
    if h.settings.flat {
        return json!({ "command": e.command, "timeout": timeout });
    }
    let mut hook = json!({ "type": "command", "command": e.command, "timeout": timeout });
    if h.name == "gemini" {
        hook["name"] = json!("hitl");
    }
    let mut group = json!({ "hooks": [hook] });
    if let Some(m) = matcher {
        group["matcher"] = json!(m);
    }
    group
}

/// An earlier install's command: `hitl hook NAME ...`, by any path to hitl.
fn is_ours(h: &Harness, command: &str) -> bool {
    let mut words = command.split_whitespace();
    let bin = words.next().unwrap_or_default();
    (bin == "hitl" || bin.ends_with("/hitl"))
        && words.next() == Some("hook")
        && words.next() == Some(h.name)
}

/// Drops earlier hitl entries (and matcher groups they leave empty).
fn remove_ours(list: &mut Vec<Value>, h: &Harness) {
    let ours = |v: &Value| {
        v.get("command")
            .and_then(Value::as_str)
            .is_some_and(|c| is_ours(h, c))
    };
    if h.settings.flat {
        list.retain(|v| !ours(v));
        return;
    }
    list.retain_mut(|group| {
        let Some(Value::Array(hooks)) = group.get_mut("hooks") else {
            return true;
        };
        let before = hooks.len();
        hooks.retain(|v| !ours(v));
        !(hooks.is_empty() && before > 0)
    });
}

fn object<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
    path: &Path,
) -> Result<&'a mut Map<String, Value>, InstallError> {
    m.entry(key).or_insert_with(|| json!({}));
    m.get_mut(key)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| shape(path, key, "an object"))
}

fn array<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
    path: &Path,
) -> Result<&'a mut Vec<Value>, InstallError> {
    m.entry(key).or_insert_with(|| json!([]));
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .ok_or_else(|| shape(path, &format!("hooks.{key}"), "a list"))
}

fn not_json(path: &Path, why: &str) -> InstallError {
    InstallError::NotJson {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

fn shape(path: &Path, key: &str, what: &'static str) -> InstallError {
    InstallError::Shape {
        path: path.to_path_buf(),
        key: key.to_string(),
        what,
    }
}

/// Reads, merges and (unless `dry_run`) writes the settings file
/// atomically. Returns its path, new text and whether it changed.
pub fn install(
    h: &Harness,
    base: &Path,
    entry: &Entry,
    dry_run: bool,
) -> Result<(PathBuf, String, bool), InstallError> {
    let path = settings_path(h, base);
    let io = |error| InstallError::Io {
        path: path.clone(),
        error,
    };
    let old = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let (text, changed) = merge(h, &path, old.as_deref(), entry)?;
    if changed && !dry_run {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.hitl-tmp");
        std::fs::write(&tmp, &text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
    }
    Ok((path, text, changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_install_keeps_the_settings_files_key_order() {
        let h = crate::hooks::harness("claude-code").unwrap();
        let old = r#"{"zebra": 1, "hooks": {"Stop": [], "PreToolUse": [{"matcher": "Edit", "hooks": []}]}, "alpha": {"y": 1, "x": 2}}"#;
        let entry = Entry::new(h, Duration::from_secs(50), OnTimeout::Deny);
        let (text, changed) = merge(h, Path::new("s.json"), Some(old), &entry).unwrap();
        assert!(changed);
        let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s}: {text}"));
        assert!(at("\"zebra\"") < at("\"hooks\"") && at("\"hooks\"") < at("\"alpha\""));
        assert!(at("\"Stop\"") < at("\"PreToolUse\""), "{text}");
        assert!(at("\"y\"") < at("\"x\""), "{text}");
        assert!(
            at("\"matcher\": \"Edit\"") < at("hitl hook claude-code"),
            "{text}"
        );
        // Installing again changes nothing.
        let (again, changed) = merge(h, Path::new("s.json"), Some(&text), &entry).unwrap();
        assert!(!changed);
        assert_eq!(again, text);
    }
}
