//! The commands that talk to the daemon: submit, decide, wait, status.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

use super::RequestArgs;
use super::place::{ERROR, Place, replay, resolve};
use super::waiting;
use crate::ipc::{self, Command, InboxEntry, Reply, Submit};
use crate::request::new_id;

pub(super) fn request(p: &Place, args: RequestArgs) -> Result<u8> {
    let payload = build_payload(args.payload.as_deref(), &args.set)?;
    let timeout = args.timeout;
    let submit = Submit {
        action: args.action,
        payload,
        summary: args.summary,
        rationale: args.reason,
        label: args.requested_by,
        timeout_s: timeout.map(|t| t.as_secs().max(1)),
        expires: None,
        notify_requester: args.notify,
        key: None,
    };
    let cmd = Command::Submit(submit);
    cmd.validate()?;
    let id = match ipc::call(&p.state_dir, &cmd, None) {
        Ok(Reply::Request { id, .. }) => id,
        Ok(r) => bail!("{}", r.refusal().unwrap_or_else(|| "refused".into())),
        Err(e) if ipc::is_down(&e) => queue_request(p, cmd, timeout)?,
        Err(e) => return Err(e).context("talking to the daemon"),
    };
    if args.json && !args.wait {
        println!("{}", serde_json::json!({ "id": id }));
    } else if !args.json {
        println!("{id}");
    }
    if args.wait {
        return wait(p, &id, None, args.json);
    }
    Ok(0)
}

/// With no daemon: leaves the request in the inbox under an id the daemon
/// will give it, and returns that id.
fn queue_request(p: &Place, mut cmd: Command, timeout: Option<Duration>) -> Result<String> {
    // The wait for a decision starts now, not when the daemon does.
    if let Command::Submit(s) = &mut cmd
        && let Some(t) = timeout
    {
        let t = jiff::SignedDuration::try_from(t)?;
        s.expires = Some(jiff::Timestamp::now().checked_add(t)?);
    }
    let entry = InboxEntry {
        id: new_id(),
        command: cmd,
    };
    ipc::leave_in_inbox(&p.state_dir, &entry)?;
    eprintln!(
        "hitl: the daemon is not running; the request waits in the inbox and is taken when it starts"
    );
    Ok(entry.id)
}

pub(super) fn decide(p: &Place, cmd: Command, json: bool) -> Result<u8> {
    cmd.validate()?;
    match ipc::call(&p.state_dir, &cmd, None) {
        Ok(Reply::Request { id, status, .. }) => {
            let status = status.unwrap_or_default();
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "id": id, "status": status, "queued": false })
                );
            } else {
                println!("{id}: {status}");
            }
            Ok(0)
        }
        Ok(r) => Err(refused(p, &cmd, r.refusal())),
        Err(e) if ipc::is_down(&e) && !matches!(cmd, Command::Resolve { .. }) => {
            queue_decision(p, cmd, json)
        }
        Err(e) if ipc::is_down(&e) => bail!("the daemon is not running; start it to resolve"),
        Err(e) => Err(e).context("talking to the daemon"),
    }
}

/// The daemon's refusal; an ambiguous id gets its candidates listed.
fn refused(p: &Place, cmd: &Command, error: Option<String>) -> anyhow::Error {
    let error = error.unwrap_or_else(|| "refused".into());
    if !error.contains("more than one") {
        return anyhow::anyhow!(error);
    }
    let (Command::Decide { id, .. } | Command::Cancel { id, .. } | Command::Resolve { id, .. }) =
        cmd
    else {
        return anyhow::anyhow!(error);
    };
    match replay(p).map(|m| resolve(&m, id)) {
        Ok(Err(listed)) => listed,
        _ => anyhow::anyhow!(error),
    }
}

/// With no daemon: refuses now what the daemon would refuse at start, and
/// leaves the rest in the inbox.
fn queue_decision(p: &Place, cmd: Command, json: bool) -> Result<u8> {
    let (Command::Decide { id, .. } | Command::Cancel { id, .. }) = &cmd else {
        unreachable!("only decisions and cancels are queued")
    };
    let m = replay(p)?;
    let full = resolve(&m, id)?;
    let status = m.status_name(&full).unwrap_or("unknown");
    if status != "pending" {
        bail!("request {full} is already {status}");
    }
    let entry = InboxEntry {
        id: new_id(),
        command: cmd,
    };
    ipc::leave_in_inbox(&p.state_dir, &entry)?;
    eprintln!("hitl: the daemon is not running; the decision is queued and taken when it starts");
    if json {
        println!(
            "{}",
            serde_json::json!({ "id": full, "status": "pending", "queued": true })
        );
    }
    Ok(0)
}

pub(super) use waiting::wait;

pub(super) fn status(p: &Place, json: bool) -> Result<u8> {
    match ipc::call(&p.state_dir, &Command::Status, Some(Duration::from_secs(5))) {
        Ok(r) => {
            let info = match r {
                Reply::Status(info) => info,
                _ => serde_json::Value::Null,
            };
            let degraded = info["degraded"].as_str().map(String::from);
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "running": true, "degraded": degraded, "daemon": info })
                );
            } else {
                let last = info["last_event"]
                    .as_str()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .map_or_else(|| "none".to_string(), super::style::time);
                let open = info["open"].as_u64().unwrap_or(0) as usize;
                println!(
                    "hitl is running: pid {}, up {} s, {}, last event {last}",
                    info["pid"],
                    info["uptime_s"],
                    super::style::count(open, "open request")
                );
                if let Some(why) = &degraded {
                    println!("DEGRADED, not taking new work: {why}");
                }
            }
            // A daemon that takes no work is a problem a script must see.
            Ok(if degraded.is_some() { ERROR } else { 0 })
        }
        Err(e) if ipc::is_down(&e) => {
            if json {
                println!("{}", serde_json::json!({ "running": false }));
            } else {
                println!(
                    "hitl is not running (state folder {})\n  start it: hitl run (or systemctl --user start hitl); requests and decisions made meanwhile wait in the inbox",
                    p.state_dir.display()
                );
            }
            Ok(1)
        }
        Err(e) => Err(e).context("talking to the daemon"),
    }
}

/// `--payload JSON|@FILE|-` plus `--set KEY=VALUE` fields.
pub(super) fn build_payload(payload: Option<&str>, set: &[String]) -> Result<Value> {
    let text = match payload {
        None => None,
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            Some(s)
        }
        Some(f) if f.starts_with('@') => Some(read_file(Path::new(&f[1..]))?),
        Some(json) => Some(json.to_string()),
    };
    let mut value = match text {
        None => Value::Object(Map::new()),
        Some(t) => serde_json::from_str(&t).context("--payload is not valid JSON")?,
    };
    for kv in set {
        let (key, raw) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv}: expected KEY=VALUE"))?;
        let v = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        let Value::Object(root) = &mut value else {
            bail!("--set needs the payload to be a JSON object")
        };
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().unwrap_or_default();
        let mut obj = root;
        for part in parts {
            let entry = obj
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            obj = entry
                .as_object_mut()
                .with_context(|| format!("--set {key}: `{part}` is not an object"))?;
        }
        obj.insert(last.to_string(), v);
    }
    Ok(value)
}

fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
