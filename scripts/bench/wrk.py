"""Load from wrk (Debian package `wrk`), fed the benchmark's own prebuilt requests.

gunicorn's sync workers close every connection and then wait for the client to close its end,
so a client that is slow to get scheduled holds a server worker idle: Python clients, however
many processes they run in, cap /healthz here at about 40% of what wrk (C, epoll) reaches, and
would flatter every ratio against it. wrk is used when present (installed with apt-get when
the benchmark runs as root and it is missing); otherwise scripts.bench.load stands in, and the
benchmark says so.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from scripts.bench.load import Result

SEPARATOR = b"\0\n"
# Each wrk thread cycles through its share of the requests file (all of it when the file holds
# fewer requests than threads); request() returns a whole raw HTTP request.
SCRIPT = r"""
local requests, counter = {}, 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local all, start = {}, 1
  while true do
    local i, j = string.find(data, "\0\n", start, true)
    if not i then break end
    all[#all + 1] = string.sub(data, start, i - 1)
    start = j + 1
  end
  local n = tonumber(args[2])
  if #all < n then
    requests = all
  else
    for idx = id, #all, n do requests[#requests + 1] = all[idx] end
  end
  pos = 0
end
function request()
  pos = pos % #requests + 1
  return requests[pos]
end
"""


def ensure_wrk() -> tuple[str | None, str]:
    """wrk's path, installing it with apt-get when missing and allowed; and what was done."""
    found = shutil.which("wrk")
    if found:
        return found, "wrk"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "wrk not found (apt-get install wrk)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "-q", "wrk"], ["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "wrk"]):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(command, env=env, capture_output=True, timeout=300, check=False)
        if shutil.which("wrk"):
            return shutil.which("wrk"), "wrk (installed now with apt-get)"
    return None, "wrk could not be installed"


class Wrk:
    """The LoadGenerator interface (run, begin/stop) over wrk -t`threads` -c`connections`."""

    def __init__(self, binary: str, port: int, threads: int = 2, connections: int = 8):
        self.binary, self.port = binary, port
        self.threads, self.connections = threads, connections
        self.dir = Path(tempfile.mkdtemp(prefix="phoneguard-wrk-"))
        (self.dir / "requests.lua").write_text(SCRIPT)
        self._proc: subprocess.Popen | None = None
        self._started = 0.0
        self.pids: list[int] = []

    def begin(self, requests: list[bytes], seconds: float, *, cycle: bool = True) -> None:
        data = self.dir / "requests.bin"
        data.write_bytes(b"".join(r + SEPARATOR for r in requests))
        command = [self.binary, f"-t{self.threads}", f"-c{self.connections}",
                   f"-d{max(1, round(seconds))}s", "-s", str(self.dir / "requests.lua"),
                   f"http://127.0.0.1:{self.port}/", "--", str(data), str(self.threads)]
        self._proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True)
        self._started = time.monotonic()
        self.pids = [self._proc.pid]

    def collect(self) -> Result:
        out, _ = self._proc.communicate()
        elapsed = time.monotonic() - self._started
        self._proc = None
        return _parse(out, elapsed)

    def stop(self) -> Result:
        """End the window now (wrk prints its summary on SIGINT)."""
        self._proc.send_signal(signal.SIGINT)
        return self.collect()

    def run(self, requests: list[bytes], seconds: float, *, cycle: bool = True) -> Result:
        self.begin(requests, seconds, cycle=cycle)
        return self.collect()

    def close(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Wrk:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _parse(out: str, elapsed: float) -> Result:
    done = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if not done:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    count, span = int(done.group(1)), float(done.group(2))
    span = span / 1000 if done.group(3) == "ms" else span
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    non_2xx = int(bad.group(1)) if bad else 0
    result = Result(span, Counter({200: count - non_2xx, 500: non_2xx}), start=0.0, last=span)
    # wrk counts a read error for each connection the server closes first, which gunicorn's
    # sync workers always do; connect errors and timeouts are real failures.
    result.failures = int(errors.group(1)) + int(errors.group(4)) if errors else 0
    return result if span else Result(elapsed)
