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


class Progress:
    """What is done so far, read on from where the last look stopped: a
    look that re-read the whole journal (100 MB at 100,000 drop-ins) and
    every note each 50 ms took a core from the daemon it measured."""

    def __init__(self):
        self.offset, self.submitted = 0, 0
        self.left = None  # drop-ins not yet seen rewritten

    def journaled(self):
        try:
            with open(os.path.join(d.state, "journal.jsonl"), "rb") as f:
                f.seek(self.offset)
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # being appended: read again next time
                    self.offset += len(line)
                    self.submitted += b'"event":"submitted"' in line
        except FileNotFoundError:
            pass
        return self.submitted

    def rewritten(self):
        if self.left is None:
            self.left = {x for x in os.listdir(pending) if x.endswith(".md")}
        for name in list(self.left):
            try:
                with open(os.path.join(pending, name)) as f:
                    if "hitl_id:" in f.read(4096):
                        self.left.discard(name)
            except FileNotFoundError:
                self.left = None  # renamed (a second name): list again
                return 0
        return n - len(self.left)


progress = Progress()
while progress.journaled() < n and time.time() - t0 < opts["timeout"]:
    time.sleep(0.05)
while progress.rewritten() < n and time.time() - t0 < opts["timeout"]:
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
