#!/usr/bin/env python3
"""Writes a keyed journal (and its key) as the daemon would, for the benchmarks.

    bench/gen_journal.py STATE_DIR EVENTS OPEN [PAYLOAD_BYTES]

EVENTS lines in all: OPEN pending requests (one `submitted` each, deadline a
year away) and settled ones (submitted/approved/executing/executed, or
submitted/rejected) for the rest. The lines are the bytes hitl writes
(field order, compact JSON), chained with HMAC-SHA256 under a fresh key.

SETTLED_AT (environment, an RFC 3339 time): when the settled requests
happened, default the open ones' time; `startup_10m` dates them a year
earlier, past `done_notes_kept`, so their Done notes are archived copies.
"""
import hashlib, hmac, json, os, sys

state, total, n_open = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pad = int(sys.argv[4]) if len(sys.argv) > 4 else 0
os.makedirs(state, mode=0o700, exist_ok=True)
key = os.urandom(32)
kp = os.path.join(state, "journal.key")
fd = os.open(kp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, key)
os.close(fd)
mac = hmac.new(key, digestmod=hashlib.sha256)

T = "2026-11-20T08:00:00.123456789Z"
FAR = "2027-11-20T08:00:00.123456789Z"
OLD = os.environ.get("SETTLED_AT", T)
out = open(os.path.join(state, "journal.jsonl"), "w", buffering=1 << 20)
prev, seq = "0" * 64, 0


def emit(rid, actor, event, details, at=T):
    global prev, seq
    seq += 1
    body = (f'{{"seq":{seq},"time":"{at}","request":"{rid}","actor":"{actor}",'
            f'"event":"{event}"' + (f',"details":{details}' if details else "")
            + f',"prev":"{prev}"}}')
    m = mac.copy()
    m.update(body.encode())
    h = m.hexdigest()
    out.write(body[:-1] + f',"hash":"{h}"}}\n')
    prev = h


def submitted(i, expires, at=T):
    rid = "a%011x" % i
    payload = json.dumps({"amount": 100 + i % 900, "memo": "x" * pad}, separators=(",", ":"), sort_keys=True)
    sha = hashlib.sha256(payload.encode()).hexdigest()
    emit(rid, "cli:bench", "submitted",
         f'{{"action":"payment","payload":{payload},"payload_sha256":"{sha}",'
         f'"summary":"payment {i}","requested_by":"cli:bench","created":"{at}",'
         f'"expires":"{expires}","risk":"low","signals":[],"rule":null,'
         f'"file_name":"payment-{rid}.md","source":"cli"}}', at)
    return rid


i = 0
settled_events = total - n_open
while seq < settled_events:
    rid = submitted(i, OLD, OLD)
    if i % 2 == 0 and seq + 3 <= settled_events:
        emit(rid, "cli:bench", "approved", '{"reason":null,"gesture":"command line","runs_handler":true}', OLD)
        emit(rid, "hitl", "executing", '{"command":["/bin/true"]}', OLD)
        emit(rid, "handler", "executed",
             '{"exit_code":0,"duration_ms":3,"output":"ok","truncated":false}', OLD)
    else:
        emit(rid, "cli:bench", "rejected", '{"reason":"no","gesture":"command line"}', OLD)
    i += 1
for _ in range(n_open):
    submitted(i, FAR)
    i += 1
out.close()
print(f"{seq} events, {n_open} open, {os.path.getsize(os.path.join(state, 'journal.jsonl'))} bytes")
