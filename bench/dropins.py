#!/usr/bin/env python3
"""N drop-ins written at once into a running daemon's pending folder: the
time until every one is journaled as a request and rewritten as its note,
and whether any note is duplicated. Prints the figures; asserts nothing.

    cargo build --release && bench/dropins.py [n=10000] [--bin PATH] [--json]
"""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Daemon, args, drop_in, report

opts = args({"n": 10000, "timeout": 600.0})
n = opts["n"]
d = Daemon(opts["bin"])
d.start()
pending = d.pending()
cpu0 = d.cpu_seconds()
t0 = time.time()
for i in range(n):
    with open(os.path.join(pending, f"dropin-{i}.md"), "w") as f:
        f.write(drop_in(i))
written = time.time() - t0


def rewritten():
    done = 0
    for name in os.listdir(pending):
        if name.endswith(".md"):
            with open(os.path.join(pending, name)) as f:
                if "hitl_id:" in f.read(4096):
                    done += 1
    return done


while d.journal_count("submitted") < n and time.time() - t0 < opts["timeout"]:
    time.sleep(0.05)
while rewritten() < n and time.time() - t0 < opts["timeout"]:
    time.sleep(0.05)
elapsed = time.time() - t0
cpu = d.cpu_seconds() - cpu0
notes = [x for x in os.listdir(pending) if x.endswith(".md")]
submitted = d.journal_count("submitted")
overflow = open(d.log).read().count("overflowed")
d.stop()
target = {1000: "<= 2 s", 10000: "<= 5 s", 100000: "<= 60 s"}.get(n, "-")
report(opts, [
    (f"{n} drop-ins at once: ingested and rewritten", target, elapsed, "s"),
    (f"  (of which writing the {n} files)", "-", written, "s"),
    ("  the daemon's CPU time meanwhile", "-", cpu, "s"),
    ("  requests journaled", str(n), submitted, ""),
    ("  notes in the pending folder (duplicates if more)", str(n), len(notes), ""),
    ("  watcher overflows", "0", overflow, ""),
])
