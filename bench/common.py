"""Shared by the bench scripts: a temporary vault and state folder, the
release binary (or the one --bin names), a daemon started and stopped."""
import json, os, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BIN = os.path.join(HERE, "..", "target", "release", "hitl")


class Daemon:
    def __init__(self, bin_path, extra_config="", log_level="hitl=warn"):
        self.bin = bin_path
        self.tmp = tempfile.mkdtemp(prefix="hitl-bench-")
        self.vault = os.path.join(self.tmp, "vault")
        self.state = os.path.join(self.tmp, "state")
        self.starts = os.path.join(self.tmp, "starts.log")
        os.makedirs(os.path.join(self.vault, "Pending_Approval"))
        handler = os.path.join(self.tmp, "h.sh")
        with open(handler, "w") as f:
            f.write(f'#!/bin/sh\necho "$HITL_REQUEST_ID $(date +%s.%N)" >> {self.starts}\ncat >/dev/null\n')
        cfg = os.path.join(self.tmp, "config.yaml")
        with open(cfg, "w") as f:
            f.write(f"handlers:\n  payment: {{ command: [/bin/sh, {handler}] }}\n{extra_config}")
        self.log = os.path.join(self.tmp, "daemon.log")
        self.env = dict(os.environ, HITL_VAULT=self.vault, HITL_STATE_DIR=self.state,
                        HITL_CONFIG=cfg, RUST_LOG=log_level)
        self.proc = None

    def pending(self):
        return os.path.join(self.vault, "Pending_Approval")

    def start(self, timeout=600):
        self.proc = subprocess.Popen([self.bin, "run"], env=self.env,
                                     stderr=open(self.log, "a"), stdout=subprocess.DEVNULL)
        t0 = time.time()
        while subprocess.run([self.bin, "status"], env=self.env, capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.time() - t0 > timeout:
                sys.exit(f"daemon did not start; see {self.log}")
            time.sleep(0.05)
        return time.time() - t0

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def journal_count(self, kind):
        n = 0
        try:
            with open(os.path.join(self.state, "journal.jsonl"), "rb") as f:
                for line in f:
                    if f'"event":"{kind}"'.encode() in line:
                        n += 1
        except FileNotFoundError:
            pass
        return n


def drop_in(i):
    return f"---\naction: payment\namount: {100 + i}\nrecipient: Client {i}\nreason: Invoice {i}\n---\nPay invoice {i}.\n"


def args(defaults):
    """--bin PATH, --json, then NAME=VALUE numbers overriding `defaults`."""
    out = dict(defaults, bin=DEFAULT_BIN, json=False)
    it = iter(sys.argv[1:])
    for a in it:
        if a == "--json":
            out["json"] = True
        elif a == "--bin":
            out["bin"] = next(it)
        elif "=" in a:
            k, v = a.split("=", 1)
            out[k] = type(defaults[k])(v)
        else:
            sys.exit(f"unknown argument {a}")
    return out


def report(opts, rows):
    """rows: [(figure, target, value, unit)]"""
    if opts["json"]:
        print(json.dumps([{"figure": f, "target": t, "measured": v, "unit": u} for f, t, v, u in rows]))
    else:
        for f, t, v, u in rows:
            print(f"{f:<55} target {t:<10} measured {v:.1f} {u}")
