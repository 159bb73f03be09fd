"""What one large webhook body costs a gunicorn web worker in memory: the Procfile's real `web`
(one worker), an Evolution photo with base64 media inline of --mib MiB, posted once per fresh
worker; the worker's peak RSS (VmHWM) before and after. Prints numbers; asserts nothing.

    python -m scripts.bench.body_memory [--mib 16] [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import time
from pathlib import Path

from scripts.gateway_bodies import evolution_body, with_media
from scripts.simulate_gateway import standard_webhooks_headers
from scripts.stack import Stack
from tests.e2e_helpers import encode

SECRET = b"bench-body-memory-secret"
CASES = ("X-Webhook-Token", "?token=", "Standard Webhooks", "wrong token (401)")


def worker_pid(stack: Stack) -> int:
    master = stack.processes["web"].pid
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
    return int(children.stdout.split()[0])


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0])
    return fields


def post(stack: Stack, case: str, raw: bytes) -> int:
    path, headers = "/api/v1/workspaces/7/whatsapp/webhook", {}
    if case == "X-Webhook-Token":
        headers = {"X-Webhook-Token": stack.env["WEBHOOK_TOKEN"]}
    elif case == "?token=":
        path += "?token=" + stack.env["WEBHOOK_TOKEN"]
    elif case == "Standard Webhooks":
        headers = standard_webhooks_headers(SECRET, "msg_bench", int(time.time()), raw)
    else:
        headers = {"X-Webhook-Token": "wrong"}
    return stack.post(path, raw, headers)[0]


def one_run(case: str, raw: bytes, small: bytes) -> tuple[int, int, int]:
    """(status, peak RSS growth KiB, RSS growth KiB) of one large post to a fresh worker."""
    env = {"WEB_CONCURRENCY": "1",
           "WEBHOOK_SECRET": "whsec_" + base64.b64encode(SECRET).decode()}
    with Stack(env=env) as stack:
        stack.run_script("seed", "--workspace", "7", "--session", "bench", "--campaigns", "1")
        stack.start("web")
        pid = worker_pid(stack)
        post(stack, case, small)  # imports and first-request setup done before measuring
        before = memory_kib(pid)
        status = post(stack, case, raw)
        after = memory_kib(pid)
    return status, after["VmHWM"] - before["VmHWM"], after["VmRSS"] - before["VmRSS"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.body_memory",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=float, default=16.0, help="body size in MiB (default 16)")
    parser.add_argument("--runs", type=int, default=3, help="fresh workers per case (default 3)")
    args = parser.parse_args(argv)
    size = int(args.mib * 1024 * 1024) - 8  # just under the limit
    raw = encode(with_media(evolution_body("bench", "android", True, time.time()), size))
    small = encode(evolution_body("bench", "android", True, time.time()))
    print(f"body {len(raw)} bytes, machine load {os.getloadavg()[0]:.1f}")
    for case in CASES:
        runs = [one_run(case, raw, small) for _ in range(args.runs)]
        peak = statistics.median(r[1] for r in runs) / 1024
        kept = statistics.median(r[2] for r in runs) / 1024
        print(f"{case:20} status {runs[0][0]}  peak RSS +{peak:5.1f} MiB (median of "
              f"{len(runs)}; runs {[round(r[1] / 1024, 1) for r in runs]})  RSS after "
              f"+{kept:5.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
