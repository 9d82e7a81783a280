//! `hitl mcp`: an MCP server on stdio, for agents that speak MCP. It is a
//! client of the running daemon over its socket, like the CLI, so the
//! daemon names the caller from the socket peer's uid; the MCP client's
//! name is only a label added to that.
//!
//! The tools: `request_approval` (submit, then wait up to a bound below
//! common client tool timeouts), `wait_for_decision`, `get_request`, and
//! `permission_prompt` (Claude Code's `--permission-prompt-tool`). Their
//! arguments are parsed into the socket's [`Command`]s, which are checked
//! like any other client's; what they answer is in [`answer`].

mod answer;
mod daemon;

use std::path::Path;
use std::time::Duration;

use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{Peer, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Map, Value};

pub use daemon::{Daemon, DaemonError, Waited};

use crate::ipc::wire::{MAX_LABEL, is_unsafe_char};
use crate::ipc::{Command, Submit};

/// The longest a single `wait_for_decision` may be asked to wait.
const MAX_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("starting the MCP session: {0}")]
    Start(String),
    #[error("the MCP session ended abnormally: {0}")]
    Ended(String),
}

/// Serves MCP on stdin/stdout until the client closes them.
pub async fn serve(state_dir: &Path, wait_bound: Duration) -> Result<(), ServeError> {
    let server = Server::new(Daemon::new(state_dir), wait_bound);
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| ServeError::Start(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| ServeError::Ended(e.to_string()))?;
    Ok(())
}

/// A length of time: seconds, or text such as `90s`, `30m`, `2h`.
#[derive(Debug, Clone, Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(untagged)]
pub enum Span {
    Seconds(u64),
    Text(String),
}

impl Span {
    fn duration(&self) -> Result<Duration, String> {
        match self {
            Span::Seconds(s) => Ok(Duration::from_secs(*s)),
            Span::Text(t) => crate::config::parse_duration(t),
        }
    }
}

#[derive(Debug, Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct RequestApproval {
    /// The action type, e.g. `payment`: the rules decide on it, and a handler of that name runs it once approved
    pub action: String,
    /// The action's input (a JSON object): exactly what is shown to the person and what runs
    #[serde(default)]
    pub payload: Value,
    /// One line for the person deciding
    pub summary: Option<String>,
    /// Why the action is needed
    pub rationale: Option<String>,
    /// How long the request may wait for a decision (seconds, or e.g. "30m", "2h"); the rules may cap it
    pub timeout: Option<Span>,
}

#[derive(Debug, Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct WaitForDecision {
    /// The request id (or a unique start of it)
    pub id: String,
    /// How long to wait in this call (seconds, or e.g. "90s"); default: the server's wait bound
    pub timeout: Option<Span>,
}

#[derive(Debug, Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct GetRequest {
    /// The request id (or a unique start of it)
    pub id: String,
}

#[derive(Debug, Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct PermissionPrompt {
    /// The tool Claude Code wants to call
    pub tool_name: String,
    /// The tool call's input
    pub input: Value,
    /// Claude Code's id of the tool call
    pub tool_use_id: Option<String>,
}

/// The MCP server: the daemon to ask and how long one call may wait.
#[derive(Debug, Clone)]
pub struct Server {
    daemon: Daemon,
    /// How long `request_approval` and `permission_prompt` wait for a
    /// decision, and `wait_for_decision` by default: below the tool-call
    /// timeouts of common clients, so the answer comes before they give up.
    wait_bound: Duration,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Server {
    pub fn new(daemon: Daemon, wait_bound: Duration) -> Server {
        Server {
            daemon,
            wait_bound,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Ask a person to approve an action before doing it. The rules may allow or deny it at once; otherwise this waits for the person's decision (up to a bound, default 50 s). Returns the status (approved or executed: go ahead; anything else, e.g. rejected (by a person, or denied by a rule) or expired: don't), who decided, their reason, and the handler's exit code and output if hitl ran the action. Still pending: returns the id and deadline; call wait_for_decision."
    )]
    async fn request_approval(
        &self,
        peer: Peer<RoleServer>,
        Parameters(p): Parameters<RequestApproval>,
    ) -> CallToolResult {
        let timeout = match p.timeout.as_ref().map(Span::duration).transpose() {
            Ok(t) => t,
            Err(e) => return answer::failed(&DaemonError::Refused(format!("timeout: {e}"))),
        };
        let submit = Submit {
            action: p.action,
            payload: object_or_empty(p.payload),
            summary: p.summary,
            rationale: p.rationale,
            label: Some(label(&peer)),
            timeout_s: timeout.map(|t| t.as_secs().max(1)),
            expires: None,
            notify_requester: None,
            key: None,
        };
        let result = self.submit_and_wait(submit, self.wait_bound).await;
        log_answer("request_approval", &result);
        result.map_or_else(|e| answer::failed(&e), answer::outcome)
    }

    #[tool(
        description = "Wait for the decision on a request that request_approval left pending. Returns the same outcome; still pending after the wait: call it again."
    )]
    async fn wait_for_decision(
        &self,
        Parameters(p): Parameters<WaitForDecision>,
    ) -> CallToolResult {
        let limit = match p.timeout.as_ref().map(Span::duration).transpose() {
            Ok(t) => t.unwrap_or(self.wait_bound).min(MAX_WAIT),
            Err(e) => return answer::failed(&DaemonError::Refused(format!("timeout: {e}"))),
        };
        let result = self.daemon.wait(&p.id, limit).await;
        log_answer("wait_for_decision", &result);
        result.map_or_else(|e| answer::failed(&e), answer::outcome)
    }

    #[tool(description = "The outcome of a request as it stands now, without waiting.")]
    async fn get_request(&self, Parameters(p): Parameters<GetRequest>) -> CallToolResult {
        let result = self.daemon.get(&p.id).await;
        log_answer("get_request", &result);
        result.map_or_else(|e| answer::failed(&e), answer::outcome)
    }

    #[tool(
        description = "Claude Code's --permission-prompt-tool: asks a person through hitl whether a tool call may run (the action `claude.<tool_name>`, its input as the payload). Answers {\"behavior\":\"allow\",\"updatedInput\":...} or {\"behavior\":\"deny\",\"message\":...}."
    )]
    async fn permission_prompt(
        &self,
        peer: Peer<RoleServer>,
        Parameters(p): Parameters<PermissionPrompt>,
    ) -> CallToolResult {
        let submit = Submit {
            action: format!("claude.{}", p.tool_name),
            payload: p.input.clone(),
            summary: Some(prompt_summary(&p.tool_name, &p.input)),
            rationale: p.tool_use_id.map(|id| format!("tool call {id}")),
            label: Some(label(&peer)),
            timeout_s: None,
            expires: None,
            notify_requester: None,
            key: None,
        };
        let result = self.submit_and_wait(submit, self.wait_bound).await;
        log_answer("permission_prompt", &result);
        // Nobody waits for a request the agent was told is denied: it is
        // withdrawn, so a later approval can't look like it let anything run.
        if let Ok(Waited::Open(o)) = &result
            && o.status == "pending"
            && let Err(e) = self.daemon.cancel(&o.id).await
        {
            tracing::warn!(request = %o.id, error = %e, "mcp: withdrawing an undecided permission prompt failed");
        }
        answer::permission(&result, &p.input, self.wait_bound)
    }
}

impl Server {
    async fn submit_and_wait(
        &self,
        submit: Submit,
        limit: Duration,
    ) -> Result<Waited, DaemonError> {
        match self.daemon.submit(Command::Submit(submit)).await? {
            Waited::Open(o) => self.daemon.wait(&o.id, limit).await,
            settled => Ok(settled),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("hitl", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "hitl puts a person in the loop before sensitive actions. Call request_approval before a payment, a deletion or anything irreversible, and act only if its status is approved or executed (executed: hitl ran it for you). If it comes back pending, call wait_for_decision with its id.",
            )
    }
}

/// The note's title for a tool call: the tool, and its command when it
/// has one (a shell tool), cut to a line a person reads at a glance.
fn prompt_summary(tool_name: &str, input: &Value) -> String {
    const MAX: usize = 160;
    let mut summary = format!("Claude Code wants to use {tool_name}");
    if let Some(command) = input.get("command").and_then(Value::as_str) {
        summary = format!("{summary}: {}", command.replace(['\n', '\r'], " "));
    }
    if summary.len() > MAX {
        let mut end = MAX;
        while !summary.is_char_boundary(end) {
            end -= 1;
        }
        summary.truncate(end);
        summary.push('…');
    }
    summary
}

/// An absent payload is an empty object, as on the command line.
fn object_or_empty(payload: Value) -> Value {
    match payload {
        Value::Null => Value::Object(Map::new()),
        v => v,
    }
}

/// `mcp`, or `mcp CLIENT` with the client's name from its handshake, kept
/// to characters that are safe in a label.
fn label(peer: &Peer<RoleServer>) -> String {
    let client = peer
        .peer_info()
        .map(|info| info.client_info.name.clone())
        .unwrap_or_default();
    let client: String = client
        .chars()
        .filter(|c| !is_unsafe_char(*c))
        .take(MAX_LABEL - 4)
        .collect();
    match client.trim() {
        "" => "mcp".to_string(),
        name => format!("mcp {name}"),
    }
}

fn log_answer(tool: &str, result: &Result<Waited, DaemonError>) {
    match result {
        Ok(Waited::Settled(o)) => {
            tracing::info!(tool, request = %o.id, status = %o.status, "mcp: settled")
        }
        Ok(Waited::Open(o)) => {
            tracing::info!(tool, request = %o.id, status = %o.status, "mcp: still open")
        }
        Err(e) => tracing::warn!(tool, error = %e, "mcp: no answer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tool_calls_summary_shows_its_command_on_one_short_line() {
        let s = prompt_summary("Bash", &json!({"command": "git push --force\nrm -rf /"}));
        assert_eq!(
            s,
            "Claude Code wants to use Bash: git push --force rm -rf /"
        );
        assert_eq!(
            prompt_summary("Read", &json!({"file_path": "/etc/hosts"})),
            "Claude Code wants to use Read"
        );
        let long = prompt_summary("Bash", &json!({"command": "é".repeat(500)}));
        assert!(long.len() <= 160 + '…'.len_utf8(), "{}", long.len());
        assert!(long.ends_with('…'));
    }
}
