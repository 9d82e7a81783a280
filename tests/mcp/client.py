"""Drives `hitl mcp` with the official MCP Python SDK, as an agent would.

Run by tests/it/mcp.rs against a running daemon and a real vault (the
HITL_* variables name them, HITL_BIN the binary). Each scenario prints one
line `RESULT <name> <json>` that the Rust test asserts on, and checks what
it can itself; any failure exits non-zero with the reason.
"""

import asyncio
import json
import os
import pathlib
import sys
import time

try:
    from mcp import ClientSession, StdioServerParameters, types
    from mcp.client.stdio import stdio_client
except ImportError as e:  # never a skip: the test must run
    print(f"FAIL: the MCP Python SDK is not installed ({e}); pip install mcp", flush=True)
    sys.exit(2)

BIN = os.environ["HITL_BIN"]
VAULT = pathlib.Path(os.environ["HITL_VAULT"])
STEP = 30  # seconds any one step may take


def report(name, value):
    print(f"RESULT {name} {json.dumps(value, sort_keys=True)}", flush=True)


def check(ok, what):
    if not ok:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)


def field(result, snake, camel):
    """A result field under the SDK's current name or its older one."""
    value = getattr(result, snake, None)
    return value if value is not None else getattr(result, camel, None)


def outcome(result):
    """The tool result's structured content, checked against its text."""
    structured = field(result, "structured_content", "structuredContent")
    text = json.loads(result.content[0].text)
    check(structured == text, f"structuredContent {structured} != text {text}")
    return structured, bool(field(result, "is_error", "isError"))


async def decide_in_vault(action, approve, reason):
    """Waits for the pending note of `action`, then ticks it with a reason,
    as a person in Obsidian would."""
    pending = VAULT / "Pending_Approval"
    deadline = time.monotonic() + STEP
    while time.monotonic() < deadline:
        for note in sorted(pending.glob("*.md")) if pending.is_dir() else []:
            try:
                text = note.read_text()
            except OSError:
                continue
            if f"\naction: {action}\n" not in text or "\nstatus: pending\n" not in text:
                continue
            box = "Approve" if approve else "Reject"
            text = text.replace(f"- [ ] {box}", f"- [x] {box}", 1)
            text = text.replace("\nstatus: pending\n", f"\nstatus: pending\ndecision_reason: {reason}\n", 1)
            note.write_text(text)
            return
        await asyncio.sleep(0.05)
    check(False, f"no pending note for {action} in {pending}")


async def session(wait_bound, body, env=None):
    params = StdioServerParameters(
        command=BIN, args=["mcp", "--wait-bound", wait_bound], env=env or dict(os.environ)
    )
    async with stdio_client(params) as (read, write):
        agent = types.Implementation(name="test-agent", version="1.0")
        async with ClientSession(read, write, client_info=agent) as s:
            await asyncio.wait_for(s.initialize(), STEP)
            await body(s)


async def call(s, tool, args):
    return await asyncio.wait_for(s.call_tool(tool, args), STEP)


async def main_session(s):
    tools = await asyncio.wait_for(s.list_tools(), STEP)
    names = sorted(t.name for t in tools.tools)
    report("tools", names)

    # Approved in the vault while request_approval waits.
    payment = {"amount": 1500, "recipient": "vendor@example.com", "currency": "USD"}
    decide = asyncio.create_task(decide_in_vault("payment", True, "invoice checked"))
    result = await call(s, "request_approval", {"action": "payment", "payload": payment, "summary": "Pay the vendor"})
    await decide
    o, err = outcome(result)
    check(not err, f"approved request is not an error: {o}")
    report("approved", o)

    # A deny rule answers at once.
    start = time.monotonic()
    result = await call(s, "request_approval", {"action": "drop_db", "payload": {"name": "prod"}})
    o, err = outcome(result)
    o["seconds"] = round(time.monotonic() - start, 1)
    report("denied", o)

    # permission_prompt: an auto rule allows at once; a vault rejection denies with its reason.
    read_input = {"file_path": "/etc/hostname"}
    result = await call(s, "permission_prompt", {"tool_name": "Read", "input": read_input, "tool_use_id": "toolu_1"})
    o, err = outcome(result)
    check(not err, f"allow is not an error: {o}")
    report("prompt_auto", o)

    bash_input = {"command": "git push --force"}
    decide = asyncio.create_task(decide_in_vault("claude.Bash", False, "not on main"))
    result = await call(s, "permission_prompt", {"tool_name": "Bash", "input": bash_input})
    await decide
    report("prompt_rejected", outcome(result)[0])

    write_input = {"file_path": "notes.txt", "content": "hello"}
    decide = asyncio.create_task(decide_in_vault("claude.Write", True, "fine"))
    result = await call(s, "permission_prompt", {"tool_name": "Write", "input": write_input})
    await decide
    report("prompt_approved", outcome(result)[0])


async def pending_session(s):
    # The bound runs out: pending, with the id, the deadline and a hint.
    payment = {"amount": 2500, "recipient": "vendor@example.com", "currency": "USD"}
    result = await call(s, "request_approval", {"action": "payment", "payload": payment})
    pending, err = outcome(result)
    check(not err, f"pending is not an error: {pending}")
    report("pending", pending)
    got, _ = outcome(await call(s, "get_request", {"id": pending["id"]}))
    report("got", got)
    decide = asyncio.create_task(decide_in_vault("payment", False, "too much"))
    result = await call(s, "wait_for_decision", {"id": pending["id"], "timeout": 25})
    await decide
    report("waited", outcome(result)[0])

    # A permission prompt nobody answers within the bound is denied, and
    # its request withdrawn.
    result = await call(s, "permission_prompt", {"tool_name": "Edit", "input": {"file_path": "a.txt"}})
    report("prompt_pending", outcome(result)[0])


async def down_session(s):
    start = time.monotonic()
    result = await call(s, "request_approval", {"action": "payment", "payload": {"amount": 1}})
    seconds = round(time.monotonic() - start, 1)
    report("down", {"is_error": bool(field(result, "is_error", "isError")), "text": result.content[0].text, "seconds": seconds})
    result = await call(s, "permission_prompt", {"tool_name": "Bash", "input": {"command": "ls"}})
    o, err = outcome(result)
    o["is_error"] = err
    report("down_prompt", o)


async def pending_note(action):
    """Waits until the daemon has written `action`'s pending note."""
    pending = VAULT / "Pending_Approval"
    deadline = time.monotonic() + STEP
    while time.monotonic() < deadline:
        for note in sorted(pending.glob("*.md")) if pending.is_dir() else []:
            try:
                if f"\naction: {action}\n" in note.read_text():
                    return
            except OSError:
                continue
        await asyncio.sleep(0.05)
    check(False, f"no pending note for {action} in {pending}")


async def killed_while(name, waiting):
    """Kills the daemon (SIGKILL) while the tool call `waiting` waits; the
    call must end with a tool error soon after, not hang to its bound."""
    import signal

    os.kill(int(os.environ["HITL_DAEMON_PID"]), signal.SIGKILL)
    killed = time.monotonic()
    result = await asyncio.wait_for(waiting, STEP)
    seconds = round(time.monotonic() - killed, 1)
    text = result.content[0].text
    report(name, {"is_error": bool(field(result, "is_error", "isError")), "text": text, "seconds": seconds})


async def killed_request_session(s):
    payment = {"amount": 2600, "recipient": "vendor@example.com", "currency": "USD"}
    waiting = asyncio.create_task(call(s, "request_approval", {"action": "payment", "payload": payment}))
    await pending_note("payment")
    await killed_while("killed_request", waiting)


async def killed_wait_session(s):
    payment = {"amount": 2700, "recipient": "vendor@example.com", "currency": "USD"}
    pending, _ = outcome(await call(s, "request_approval", {"action": "payment", "payload": payment}))
    check(pending["status"] == "pending", f"pending first: {pending}")
    waiting = asyncio.create_task(call(s, "wait_for_decision", {"id": pending["id"], "timeout": 25}))
    await killed_while("killed_wait", waiting)


async def main(groups):
    """Runs the named groups of scenarios: main, pending, down,
    killed_request, killed_wait (these two kill HITL_DAEMON_PID)."""
    for group in groups:
        if group == "main":
            await session("20s", main_session)
        elif group == "pending":
            await session("1s", pending_session)
        elif group == "down":
            await session("20s", down_session)
        elif group == "killed_request":
            await session("40s", killed_request_session)
        elif group == "killed_wait":
            await session("1s", killed_wait_session)
        else:
            check(False, f"no scenario group {group}")
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
