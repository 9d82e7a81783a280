#!/usr/bin/env python3
"""Writes link/startup.order: the functions of hitl that a daemon start runs,
for the linker to place together (build.rs; docs/perf-memory.md, "Code
pages").

    cargo build --release && bench/startup_order.py

Runs target/release/hitl under valgrind's callgrind on the rss_open data
(10,000 open requests, generated in BENCH_DIR as bench/run does), from
start to ready and a clean stop, and lists every function of the binary
that ran, hottest first. The names are mangled symbols; a name the linker
no longer finds (renamed code, another toolchain) is skipped, so a stale
list costs only locality, never correctness."""
import os, re, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "hitl")
OUT = os.path.join(ROOT, "link", "startup.order")


def ran(profile, binary):
    """(symbol, self cost) of the functions of `binary` in a callgrind file."""
    names, objs, cost, fn_obj = {}, {}, {}, {}
    obj = fn = None
    compressed = re.compile(r"^(ob|cob|fn|cfn|fl|fi|fe|cfi|cfl)=\((\d+)\)(?: (.*))?$")
    for line in open(profile, errors="replace"):
        m = compressed.match(line.rstrip("\n"))
        if m:
            kind, i, name = m.groups()
            table = objs if kind in ("ob", "cob") else names
            if name:
                table[(kind in ("ob", "cob"), i)] = name
            if kind == "ob":
                obj = objs[(True, i)]
            elif kind == "fn":
                fn = names[(False, i)]
                fn_obj[fn] = obj
                cost.setdefault(fn, 0)
            continue
        if fn and line[:1].isdigit():
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                cost[fn] += int(parts[1])
    real = os.path.realpath(binary)
    # valgrind's own names ("(below main)") are not symbols.
    mine = [f for f, o in fn_obj.items() if o and os.path.realpath(o) == real and " " not in f]
    return sorted(mine, key=lambda f: (-cost[f], f))


def main():
    data = os.path.join(os.environ.get("BENCH_DIR", "/tmp/hitl-bench"), "open10k")
    state = os.path.join(data, "state")
    if not os.path.exists(os.path.join(state, "journal.jsonl")):
        sys.exit(f"no data in {data}: run `bench/run rss_open` first")
    env = dict(os.environ, HITL_VAULT=os.path.join(data, "vault"), HITL_STATE_DIR=state,
               HITL_CONFIG=os.path.join(data, "config.yaml"), RUST_LOG="hitl=warn")
    with tempfile.TemporaryDirectory() as tmp:
        profile = os.path.join(tmp, "callgrind.out")
        daemon = subprocess.Popen(["valgrind", "--tool=callgrind", "--demangle=no",
                                   f"--callgrind-out-file={profile}", BIN, "run"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 600
        while subprocess.run([BIN, "status"], env=env, capture_output=True).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                sys.exit("the daemon did not start under valgrind")
            time.sleep(0.5)
        time.sleep(3)  # the work a start does after it answers (dashboard, trims)
        daemon.terminate()
        daemon.wait()
        symbols = ran(profile, BIN)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("".join(s + "\n" for s in symbols))
    print(f"{len(symbols)} functions written to {OUT}")


if __name__ == "__main__":
    main()
