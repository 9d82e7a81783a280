//! Configuration in two phases: [`RawConfig`] mirrors the YAML file, and
//! [`Config`] is the validated form the rest of the daemon uses. The parser
//! takes a string, so it is tested on strings; errors carry the file, line
//! and column, or the field that is wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::rules::{Condition, ReasonPolicy, Risk, RiskSignal, Rule, Verdict};

pub(crate) mod fields;
mod handler;
pub mod trust;

pub use fields::parse_duration;
use fields::{duration, located, without_position};
pub use handler::{Handler, HiddenValues};
use handler::{RawHandler, handlers};

/// The example config, which is also the built-in default.
pub const EXAMPLE: &str = include_str!("../config/hitl.example.yaml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}:{line}:{column}: {message}")]
    Yaml {
        origin: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{origin}: {field}: {problem}")]
    Invalid {
        origin: String,
        field: String,
        problem: String,
    },
    #[error("{origin}: {error}")]
    Io {
        origin: String,
        error: std::io::Error,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    vault: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    #[serde(default)]
    folders: RawFolders,
    default: Option<Verdict>,
    timeout: Option<Spanned<String>>,
    /// The older spelling of `reason: required_for_reject`.
    #[serde(default)]
    reject_reason_required: bool,
    reason: Option<ReasonPolicy>,
    reconcile_every: Option<Spanned<String>>,
    /// Journal events between two checkpoints of the engine's state.
    checkpoint_every: Option<u64>,
    done_notes_kept: Option<Spanned<String>>,
    dashboard_refresh: Option<Spanned<String>>,
    shutdown_grace: Option<Spanned<String>>,
    max_note_bytes: Option<u64>,
    /// Absent: the built-in rules. `[]`: no rules.
    rules: Option<Vec<Spanned<RawRule>>>,
    /// Absent: the built-in risk signals. `[]`: none.
    risk: Option<Vec<Spanned<RawRisk>>>,
    #[serde(default)]
    handlers: BTreeMap<String, Spanned<RawHandler>>,
    #[serde(default)]
    notify: Vec<Spanned<crate::notify::config::RawChannel>>,
    reminder_before: Option<Spanned<String>>,
    audit_anchor: Option<Spanned<crate::notify::anchor::RawAnchor>>,
    requesters: Option<Vec<trust::UserRef>>,
    #[serde(default)]
    approvers: Vec<Spanned<trust::RawApprover>>,
    allow_self_approval: Option<bool>,
    socket_group: Option<String>,
    #[serde(default)]
    code_via: Vec<String>,
    #[serde(default)]
    mcp: RawMcp,
}

/// `mcp:`, the MCP server's settings.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMcp {
    wait_bound: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFolders {
    pending: Option<String>,
    approved: Option<String>,
    rejected: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default)]
    when: Map<String, Value>,
    decision: Verdict,
    timeout: Option<Spanned<String>>,
    reason: Option<ReasonPolicy>,
    approval: Option<trust::Approval>,
    code_via: Option<Vec<String>>,
    approvals: Option<u32>,
    grace: Option<Spanned<String>>,
    #[serde(default)]
    hook: crate::rules::HookAnswer,
    /// The notify channels for this rule's requests, instead of all.
    notify: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRisk {
    #[serde(default)]
    when: Map<String, Value>,
    level: Risk,
    says: String,
}

/// Vault folder names (relative to the vault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folders {
    pub pending: String,
    pub approved: String,
    pub rejected: String,
    pub done: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub vault: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub folders: Folders,
    pub default: Verdict,
    pub timeout: Duration,
    /// When a decision needs a reason, unless its rule says otherwise.
    pub reason: ReasonPolicy,
    pub reconcile_every: Duration,
    /// How many journal events between two checkpoints (0: only at a clean
    /// shutdown), so a start-up replays only the tail.
    pub checkpoint_every: u64,
    /// How long a settled request's Done note is kept up by the daemon
    /// (regenerated if missing, stamped, put back if edited); older ones
    /// are archived: plain copies it no longer tracks (docs/journal.md).
    pub done_notes_kept: Duration,
    /// How often `Approvals.md` is rendered again while requests wait (its
    /// ages and "expires in" move); written only if what it shows changed.
    pub dashboard_refresh: Duration,
    /// How long running handlers may finish when hitl stops.
    pub shutdown_grace: Duration,
    pub max_note_bytes: u64,
    pub rules: Vec<Rule>,
    pub risk: Vec<RiskSignal>,
    pub handlers: BTreeMap<String, Handler>,
    pub notify: crate::notify::NotifyConfig,
    /// Who may submit and decide (DESIGN.md, "Trust").
    pub access: trust::Access,
    /// How long `hitl mcp` waits for a decision within one tool call.
    pub mcp_wait_bound: Duration,
    /// Send the journal's head to a channel this often (`None`: never).
    pub audit_anchor: Option<crate::notify::anchor::AnchorConfig>,
}

impl Config {
    /// The built-in defaults: the example config.
    pub fn builtin() -> Config {
        Config::parse(EXAMPLE, "built-in config").expect("the shipped example config is valid")
    }

    /// The reason policy for a request decided by `rule` (by name; a rule
    /// gone since, or none, falls back to the config's).
    pub fn reason_policy(&self, rule: Option<&str>) -> ReasonPolicy {
        rule.and_then(|name| self.rules.iter().find(|r| r.name == name))
            .and_then(|r| r.reason)
            .unwrap_or(self.reason)
    }

    /// The trust settings for a request decided by `rule` (by name; a rule
    /// gone since, or none, asks nothing more than a gesture).
    pub fn rule_trust(&self, rule: Option<&str>) -> trust::RuleTrust {
        rule.and_then(|name| self.rules.iter().find(|r| r.name == name))
            .map(|r| r.trust.clone())
            .unwrap_or_default()
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            origin: origin.clone(),
            error,
        })?;
        Config::parse(&text, &origin)
    }

    /// Parses and validates YAML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = crate::yaml::from_str(text).map_err(|e| ConfigError::Yaml {
            origin: origin.to_string(),
            line: e.line,
            column: e.column,
            message: without_position(&e.message).to_string(),
        })?;
        let builtin =
            || crate::yaml::from_str::<RawConfig>(EXAMPLE).expect("the example config parses");
        let raw_rules = raw
            .rules
            .unwrap_or_else(|| builtin().rules.unwrap_or_default());
        let raw_risk = raw
            .risk
            .unwrap_or_else(|| builtin().risk.unwrap_or_default());
        let mut notify = crate::notify::config::validate(origin, raw.notify, &raw.reminder_before)?;
        crate::notify::config::route_rules(origin, &raw_rules, rule_notify, &mut notify)?;
        let channels: Vec<&str> = notify.channels.iter().map(|c| c.name.as_str()).collect();
        let dur = |field: &str, v: &Option<Spanned<String>>, default: Duration| {
            duration(origin, field, v, default)
        };
        Ok(Config {
            vault: raw.vault.map(|p| expand_home(&p)),
            state_dir: raw.state_dir.map(|p| expand_home(&p)),
            folders: folders(origin, raw.folders)?,
            default: raw.default.unwrap_or(Verdict::Require),
            timeout: dur("timeout", &raw.timeout, Duration::from_secs(24 * 3600))?,
            reason: raw.reason.unwrap_or(if raw.reject_reason_required {
                ReasonPolicy::RequiredForReject
            } else {
                ReasonPolicy::Optional
            }),
            reconcile_every: dur(
                "reconcile_every",
                &raw.reconcile_every,
                Duration::from_secs(60),
            )?,
            checkpoint_every: raw.checkpoint_every.unwrap_or(50_000),
            done_notes_kept: dur(
                "done_notes_kept",
                &raw.done_notes_kept,
                Duration::from_secs(90 * 86400),
            )?,
            dashboard_refresh: dur(
                "dashboard_refresh",
                &raw.dashboard_refresh,
                Duration::from_secs(60),
            )?,
            shutdown_grace: dur(
                "shutdown_grace",
                &raw.shutdown_grace,
                Duration::from_secs(20),
            )?,
            max_note_bytes: raw.max_note_bytes.unwrap_or(1024 * 1024),
            rules: rules(origin, &raw_rules, &channels, &raw.code_via)?,
            risk: risk(origin, &raw_risk)?,
            handlers: handlers(origin, raw.handlers)?,
            audit_anchor: crate::notify::anchor::validate(origin, raw.audit_anchor, &notify)?,
            access: trust::access(
                origin,
                trust::RawAccess {
                    requesters: raw.requesters,
                    approvers: raw.approvers,
                    allow_self_approval: raw.allow_self_approval,
                    socket_group: raw.socket_group,
                    code_via: raw.code_via,
                },
                &channels,
            )?,
            notify,
            mcp_wait_bound: dur(
                "mcp.wait_bound",
                &raw.mcp.wait_bound,
                Duration::from_secs(50),
            )?,
        })
    }
}

fn invalid(origin: &str, field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        field: field.into(),
        problem: problem.into(),
    }
}

/// A rule's name and its `notify:` channels.
fn rule_notify(r: &RawRule) -> (&str, Option<&Vec<String>>) {
    (r.name.as_str(), r.notify.as_ref())
}

fn rules(
    origin: &str,
    raw: &[Spanned<RawRule>],
    channels: &[&str],
    code_via: &[String],
) -> Result<Vec<Rule>, ConfigError> {
    raw.iter()
        .enumerate()
        .map(|(i, spanned)| {
            let r = &spanned.value;
            let field = format!("rules[{i}] ({})", r.name);
            let when = Condition::compile(&r.when)
                .map_err(|e| located(origin, spanned, &format!("{field}.when"), e))?;
            let timeout = match &r.timeout {
                None => None,
                Some(_) => Some(duration(
                    origin,
                    &format!("{field}.timeout"),
                    &r.timeout,
                    Duration::ZERO,
                )?),
            };
            let raw_trust = trust::RawRuleTrust {
                approval: r.approval,
                code_via: &r.code_via,
                approvals: r.approvals,
                grace: &r.grace,
            };
            Ok(Rule {
                name: r.name.clone(),
                when,
                decision: r.decision,
                timeout,
                reason: r.reason,
                trust: trust::rule_trust(origin, &field, raw_trust, channels, code_via)?,
                hook: hook_answer(origin, &field, r)?,
            })
        })
        .collect()
}

/// `hook: allow` only where the rule lets the action run.
fn hook_answer(
    origin: &str,
    field: &str,
    r: &RawRule,
) -> Result<crate::rules::HookAnswer, ConfigError> {
    if r.hook == crate::rules::HookAnswer::Allow && r.decision != Verdict::Auto {
        return Err(invalid(
            origin,
            format!("{field}.hook"),
            "`hook: allow` needs `decision: auto`",
        ));
    }
    Ok(r.hook)
}

fn risk(origin: &str, raw: &[Spanned<RawRisk>]) -> Result<Vec<RiskSignal>, ConfigError> {
    raw.iter()
        .enumerate()
        .map(|(i, spanned)| {
            let r = &spanned.value;
            let when = Condition::compile(&r.when)
                .map_err(|e| located(origin, spanned, &format!("risk[{i}].when"), e))?;
            Ok(RiskSignal {
                when,
                level: r.level,
                says: r.says.clone(),
            })
        })
        .collect()
}

fn folders(origin: &str, raw: RawFolders) -> Result<Folders, ConfigError> {
    let folder = |name: &str, v: Option<String>, default: &str| {
        let v = v.unwrap_or_else(|| default.to_string());
        if v.is_empty() || v.contains('/') || v.starts_with('.') {
            Err(invalid(
                origin,
                format!("folders.{name}"),
                format!("`{v}` is not a plain folder name"),
            ))
        } else {
            Ok(v)
        }
    };
    Ok(Folders {
        pending: folder("pending", raw.pending, "Pending_Approval")?,
        approved: folder("approved", raw.approved, "Approved")?,
        rejected: folder("rejected", raw.rejected, "Rejected")?,
        done: folder("done", raw.done, "Done")?,
    })
}

fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_config_is_the_example() {
        let c = Config::builtin();
        assert_eq!(c.folders.pending, "Pending_Approval");
        assert_eq!(c.default, Verdict::Require);
        assert!(c.rules.iter().any(|r| r.name == "large-payment"));
        assert!(c.handlers.is_empty());
    }

    #[test]
    fn absent_rules_mean_the_builtin_ones() {
        let c = Config::parse("handlers: { pay: { command: [/bin/true] } }\n", "c").unwrap();
        assert_eq!(c.rules.len(), Config::builtin().rules.len());
        assert!(!c.risk.is_empty());
        let c = Config::parse("rules: []\nrisk: []\n", "c").unwrap();
        assert!(c.rules.is_empty() && c.risk.is_empty());
    }

    #[test]
    fn the_mcp_wait_bound_is_configurable_and_checked() {
        assert_eq!(Config::builtin().mcp_wait_bound, Duration::from_secs(50));
        let c = Config::parse("mcp: { wait_bound: 2m }\n", "c").unwrap();
        assert_eq!(c.mcp_wait_bound, Duration::from_secs(120));
        let e = Config::parse("mcp: { wait_bound: soon }\n", "c").unwrap_err();
        assert!(e.to_string().contains("mcp.wait_bound"), "{e}");
    }

    #[test]
    fn yaml_errors_carry_line_and_column() {
        let e = Config::parse("default: require\nrules: [\n  - oops", "cfg.yaml").unwrap_err();
        let ConfigError::Yaml { line, .. } = &e else {
            panic!("{e}")
        };
        assert!(*line >= 2, "{e}");
        assert!(e.to_string().starts_with("cfg.yaml:"), "{e}");
    }

    #[test]
    fn invalid_fields_are_named() {
        let e = Config::parse(
            "rules:\n  - name: r\n    when: { amount: { gt: lots } }\n    decision: deny\n",
            "cfg.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("rules[0] (r).when"), "{e}");
        assert!(e.to_string().starts_with("cfg.yaml:2:"), "{e}");
        let e = Config::parse("handlers:\n  pay: { command: [] }\n", "c").unwrap_err();
        assert!(e.to_string().contains("handlers.pay.command"), "{e}");
        let e = Config::parse("defualt: auto\n", "c").unwrap_err();
        assert!(e.to_string().contains("defualt"), "{e}");
    }
}
