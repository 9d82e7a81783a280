#!/usr/bin/env python3
"""Gesture → journaled decision and gesture → handler started, measured on the
real release binary with a real vault. Prints percentiles; asserts nothing.

    cargo build --release && python3 bench/gesture_latency.py [N] [--storm [--slow-webhook]]

--storm: other requests arrive all the while (a `hitl request` loop in the
background). --slow-webhook: and every request is notified to a webhook
that takes 2 s to answer each POST (digest after 1000, so one message per
request): notification load must not move the gesture latency.
"""
import http.server, json, os, subprocess, sys, tempfile, threading, time

args = [a for a in sys.argv[1:] if not a.startswith("--")]
STORM, SLOW = "--storm" in sys.argv, "--slow-webhook" in sys.argv
N = int(args[0]) if args else 100
BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "hitl")
tmp = tempfile.mkdtemp()
vault, state = os.path.join(tmp, "vault"), os.path.join(tmp, "state")
os.makedirs(vault)  # `hitl run` refuses a vault that doesn't exist
starts = os.path.join(tmp, "starts.log")
handler = os.path.join(tmp, "h.sh")
with open(handler, "w") as f:
    f.write(f'#!/bin/sh\necho "$HITL_REQUEST_ID $(date +%s.%N)" >> {starts}\ncat >/dev/null\n')
cfg = os.path.join(tmp, "config.yaml")
hook_hits = [0]
if SLOW:
    class Slow(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(2)
            hook_hits[0] += 1
            self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
with open(cfg, "w") as f:
    f.write(f"handlers:\n  payment: {{ command: [/bin/sh, {handler}] }}\n")
    if SLOW:
        f.write(f"notify:\n  - {{ name: slow, kind: webhook, url: 'http://127.0.0.1:{srv.server_port}/t', "
                "flavor: ntfy, digest_after: 1000, max_attempts: 1 }\n")
env = dict(os.environ, HITL_VAULT=vault, HITL_STATE_DIR=state, HITL_CONFIG=cfg, RUST_LOG="hitl=warn")
daemon = subprocess.Popen([BIN, "run"], env=env, stderr=subprocess.DEVNULL)
while subprocess.run([BIN, "status"], env=env, capture_output=True).returncode != 0:
    time.sleep(0.05)

def journal():
    with open(os.path.join(state, "journal.jsonl")) as f:
        return [json.loads(l) for l in f if l.strip()]

def ts(s):  # 2026-11-25T08:05:42.316422123Z -> epoch seconds
    from datetime import datetime, timezone
    base, frac = s.rstrip("Z").split(".") if "." in s else (s.rstrip("Z"), "0")
    t = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return t + float("0." + frac)

stop = threading.Event()
storm_count = [0]
def storm():
    while not stop.is_set():
        subprocess.run([BIN, "request", "transfer", "--set", "amount=5000"], env=env, capture_output=True)
        storm_count[0] += 1
if STORM:
    threading.Thread(target=storm, daemon=True).start()

decided, started = [], []
for i in range(N):
    rid = subprocess.run([BIN, "request", "payment", "--set", f"amount={600+i}"], env=env,
                         capture_output=True, text=True).stdout.strip()
    path = os.path.join(vault, "Pending_Approval", f"payment-{rid}.md")
    while not os.path.exists(path):
        time.sleep(0.001)
    time.sleep(0.05)
    text = open(path).read().replace("- [ ] Approve", "- [x] Approve")
    with open(path, "w") as f:
        f.write(text)
    t0 = time.time()
    while True:
        ev = [e for e in journal() if e["request"] == rid and e["event"] == "approved"]
        if ev:
            decided.append(ts(ev[0]["time"]) - t0)
            break
        time.sleep(0.002)
    while True:
        lines = [l.split() for l in open(starts)] if os.path.exists(starts) else []
        mine = [float(l[1]) for l in lines if l[0] == rid]
        if mine:
            started.append(mine[0] - t0)
            break
        time.sleep(0.002)
stop.set()
daemon.terminate(); daemon.wait()
notified = sum(1 for e in journal() if e["event"] == "notified")
print(f"mode: storm={STORM} slow_webhook={SLOW}; storm requests={storm_count[0]}, "
      f"webhook POSTs answered={hook_hits[0]}, notified events={notified}")

def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1000
for name, xs in [("gesture -> journaled decision", decided), ("gesture -> handler started", started)]:
    print(f"{name}: n={len(xs)} p50={pct(xs,50):.1f} ms p99={pct(xs,99):.1f} ms max={max(xs)*1000:.1f} ms")
