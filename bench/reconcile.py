#!/usr/bin/env python3
"""With N open requests (drop-ins taken at start): the CPU one reconcile
costs when nothing changed, and gesture -> handler start while reconciles
run (gestures at random times). Prints the figures; asserts nothing.

    cargo build --release && bench/reconcile.py [n=10000] [gestures=60] [--bin PATH] [--json]
"""
import os, random, re, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Daemon, args, drop_in, report

opts = args({"n": 10000, "gestures": 60, "every": 2.0})
n = opts["n"]
# The reconcile every `every` seconds, so that many run during the gestures.
d = Daemon(opts["bin"], extra_config=f"reconcile_every: {opts['every']}s\n", log_level="hitl=debug")
pending = d.pending()
for i in range(n):
    with open(os.path.join(pending, f"req-{i}.md"), "w") as f:
        f.write(drop_in(i))
startup = d.start()
while d.journal_count("submitted") < n:
    time.sleep(0.1)


def reconciles():
    with open(d.log) as f:
        return sum(1 for line in f if "reconciled the vault" in line)


def ids():
    out = {}
    for name in os.listdir(pending):
        if name.endswith(".md"):
            with open(os.path.join(pending, name)) as f:
                m = re.search(r"^hitl_id: (\S+)", f.read(4096), re.M)
            if m:
                out[m.group(1)] = os.path.join(pending, name)
    return out


def idle_in_a_row():
    """How many of the last reconciles were idle: read nothing and
    skipped the judge of missing notes (the log line's fields)."""
    with open(d.log) as f:
        lines = [line for line in f if "reconciled the vault" in line]
    n = 0
    for line in reversed(lines):
        if " read=0 " not in line or " judged=false" not in line:
            break
        n += 1
    return n


# Let the notes written at start settle: the next reconciles read the
# notes written within a time tick again, judge, and free the burst's
# spares. Measure only once two reconciles in a row were idle (at most
# two minutes of waiting): CPU over a window / reconciles in it.
time.sleep(2 * opts["every"] + 1.5)
deadline = time.time() + 120
while idle_in_a_row() < 2 and time.time() < deadline:
    time.sleep(0.2)
r0, c0, t0 = reconciles(), d.cpu_seconds(), time.time()
while reconciles() < r0 + 5:
    time.sleep(0.1)
r1, c1 = reconciles(), d.cpu_seconds()
per_reconcile = (c1 - c0) / (r1 - r0) * 1000

# Gestures at random times while reconciles run.
known = ids()
chosen = random.sample(sorted(known), min(opts["gestures"], len(known)))
lat = []
for rid in chosen:
    time.sleep(random.uniform(0.05, 0.4))
    path = known[rid]
    text = open(path).read().replace("- [ ] Approve", "- [x] Approve")
    t = time.time()
    with open(path, "w") as f:
        f.write(text)
    deadline = t + 30
    while time.time() < deadline:
        seen = None
        if os.path.exists(d.starts):
            for line in open(d.starts):
                parts = line.split()
                if parts and parts[0] == rid:
                    seen = float(parts[1])
        if seen:
            lat.append(seen - t)
            break
        time.sleep(0.002)
d.stop()
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] * 1000 if lat else float("nan")
report(opts, [
    (f"start-up with {n} drop-ins to take", "-", startup, "s"),
    (f"a reconcile with nothing changed, {n} open: CPU", "<= 20 ms", per_reconcile, "ms"),
    (f"gesture -> handler started p50 ({len(lat)} gestures, reconciles running)", "-", pct(50), "ms"),
    (f"gesture -> handler started p99 ({len(lat)} gestures, reconciles running)", "<= 50 ms", pct(99), "ms"),
    ("gesture -> handler started max", "-", lat[-1] * 1000 if lat else float("nan"), "ms"),
])
