"""The benchmark's load generator: processes of threads sending prebuilt HTTP/1.1 requests over
loopback, one connection per request (gunicorn's sync workers close every connection anyway).

Written in Python rather than wrk so the benchmark needs nothing beyond the project's own
install; it runs in processes of its own so its GIL is not the server's. Requests are built
before a window starts (bodies, signatures) so that the window measures the server only.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Result:
    """What one window of load achieved: responses by status within the window."""

    seconds: float
    statuses: Counter = field(default_factory=Counter)
    exhausted: bool = False
    failures: int = 0
    start: float = 0.0
    last: float = 0.0  # monotonic time of the last response taken

    @property
    def elapsed(self) -> float:
        """From the window's start to its last response (a burst that ran out early)."""
        return max(0.0, self.last - self.start)

    @property
    def completed(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def rate(self) -> float:
        """Successful responses per second, over the time the window actually ran."""
        span = self.elapsed or self.seconds
        return self.ok / span if span else 0.0

    def merge(self, other: Result) -> None:
        self.statuses.update(other.statuses)
        self.exhausted |= other.exhausted
        self.failures += other.failures
        self.start = other.start
        self.last = max(self.last, other.last)


def exchange(port: int, request: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send one request on a fresh connection; return (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head[9:12]), body


def _thread(port, requests, cycle, start, end, stop, result: Result, lock,
            pace: tuple[float, float] = (0.0, 0.0)) -> None:
    local = Counter()
    failures = exhausted = 0
    index, last = 0, start
    while time.monotonic() < start:
        time.sleep(0.0005)
    interval, offset = pace
    due = start + offset
    while not stop.is_set():
        if index >= len(requests):
            if not cycle or not requests:
                exhausted = 1
                break
            index = 0
        if interval:
            # Paced: one request per interval. A thread held up by a slow answer starts
            # again from now rather than catching up in a burst.
            if stop.wait(max(0.0, due - time.monotonic())):
                break
            due = max(due, time.monotonic() - interval) + interval
        request = requests[index]
        index += 1
        try:
            status, _ = exchange(port, request)
        except OSError:
            status = 0
        now = time.monotonic()
        if now > end:
            break
        last = now
        if status:
            local[status] += 1
        else:
            failures += 1
    with lock:
        result.statuses.update(local)
        result.failures += failures
        result.exhausted |= bool(exhausted)
        result.last = max(result.last, last)


def _serve(conn, port: int, threads: int, stop) -> None:
    """A load process: run each window it is sent, answer with its Result."""
    while True:
        command = conn.recv()
        if command is None:
            return
        requests, cycle, start, seconds, interval, offsets = command
        result, lock = Result(seconds, start=start), threading.Lock()
        shares = [requests[i::threads] for i in range(threads)]
        workers = [threading.Thread(target=_thread, daemon=True,
                                    args=(port, share, cycle, start, start + seconds, stop,
                                          result, lock, (interval, offsets[k])))
                   for k, share in enumerate(shares)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        conn.send(result)


class LoadGenerator:
    """`processes` x `threads` closed-loop clients against 127.0.0.1:`port`."""

    def __init__(self, port: int, processes: int = 2, threads: int = 4):
        self.port = port
        self.threads = threads
        context = multiprocessing.get_context("fork")
        self._stop = context.Event()
        self._pipes, self._procs = [], []
        for _ in range(processes):
            parent, child = context.Pipe()
            proc = context.Process(target=_serve, args=(child, port, threads, self._stop),
                                   daemon=True)
            proc.start()
            self._pipes.append(parent)
            self._procs.append(proc)
        self._pending = None

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs]

    def begin(self, requests: list[bytes], seconds: float, *, cycle: bool = True,
              rate: float | None = None) -> None:
        """Start a window in the background; `collect()` returns its Result. With `rate`,
        requests are sent at most that many a second in all (else flat out)."""
        self._stop.clear()
        start = time.monotonic() + 0.2
        count = len(self._pipes)
        slots = count * self.threads
        interval = slots / rate if rate else 0.0
        for i, pipe in enumerate(self._pipes):
            # Paced threads take turns, each its own slot of the interval: the requests are
            # spread evenly over it, not sent in clumps.
            offsets = [(k * count + i) * interval / slots for k in range(self.threads)]
            pipe.send((requests[i::count], cycle, start, seconds, interval, offsets))
        self._pending = seconds

    def done(self) -> bool:
        """Whether the window in the background has ended (a burst ran out)."""
        return all(pipe.poll() for pipe in self._pipes)

    def stop(self) -> Result:
        """End the window in the background now; its Result (rate over the full window)."""
        self._stop.set()
        return self.collect()

    def collect(self) -> Result:
        total = Result(self._pending)
        for pipe in self._pipes:
            total.merge(pipe.recv())
        self._pending = None
        return total

    def run(self, requests: list[bytes], seconds: float, *, cycle: bool = True) -> Result:
        self.begin(requests, seconds, cycle=cycle)
        return self.collect()

    def close(self) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
