"""The two commands of the README, for a fresh machine with only Python 3.11+, and the one
that refreshes the pinned dependencies.

    python3 -m scripts.dev run    install, start Redis if REDIS_URL is unset, migrate, seed a
                                  demo workspace, then run web, worker and clock (honcho)
    python3 -m scripts.dev test   install, then run ruff and the whole pytest suite
                                  (extra arguments go to pytest)
    python3 -m scripts.dev lock   compile requirements.txt (what the platform installs) and
                                  requirements-dev.txt (the same pins plus the dev extra) from
                                  pyproject.toml, with hashes; run it after changing a dependency

Standard library only (scripts.local_servers is too): it runs before anything is installed.
It installs into .venv, from the pins: requirements-dev.txt, then the project itself without
dependencies, so the tests run on exactly the versions the platform installs from
requirements.txt.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import tempfile
import venv
from pathlib import Path

from scripts.local_servers import RedisServer, redis_server_binary

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".phoneguard-installed"
PINS = ROOT / "requirements.txt"
DEV_PINS = ROOT / "requirements-dev.txt"
# What the lockfiles are resolved for: the .python-version the platform installs.
PYTHON_VERSION = (ROOT / ".python-version").read_text().split()[0]

# Only for the local demo: printed at start, never used when the variables are set.
DEMO_CREDENTIALS = {"WEBHOOK_TOKEN": "demo-webhook-token", "API_TOKEN": "demo-api-token"}


def ensure_installed() -> None:
    """Create .venv and install the pinned dependencies and the project, again whenever
    pyproject.toml or a lockfile changes."""
    wanted = hashlib.sha256(b"".join(
        path.read_bytes() for path in (ROOT / "pyproject.toml", PINS, DEV_PINS))).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    _create_venv()
    print("dev: installing the pinned dependencies into .venv", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    # Hash-checked (the file has hashes): exactly the pins, and requirements-dev.txt holds
    # requirements.txt's versions (it is compiled with requirements.txt as constraints).
    subprocess.run([*pip, "--require-hashes", "-r", str(DEV_PINS)], check=True, cwd=ROOT)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True, cwd=ROOT)
    STAMP.write_text(wanted)


def _create_venv() -> None:
    if not PYTHON.exists():
        print("dev: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)


def lock(args: argparse.Namespace) -> int:
    """Compile both lockfiles from pyproject.toml with uv (installed into .venv if missing)."""
    _create_venv()
    if subprocess.run([str(PYTHON), "-m", "uv", "--version"], capture_output=True).returncode:
        subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", _pinned("uv") or "uv"],
                       check=True, cwd=ROOT)
    compile_ = [str(PYTHON), "-m", "uv", "pip", "compile", "pyproject.toml", "--quiet",
                "--universal", "--python-version", PYTHON_VERSION, "--generate-hashes",
                "--custom-compile-command", "python3 -m scripts.dev lock", *args.uv_args]
    for command in ([*compile_, "-o", PINS.name],
                    [*compile_, "--extra", "dev", "-c", PINS.name, "-o", DEV_PINS.name]):
        if subprocess.run(command, cwd=ROOT).returncode:
            return 1
    print(f"dev: wrote {PINS.name} and {DEV_PINS.name}; commit both", flush=True)
    return 0


def _pinned(name: str) -> str | None:
    """`name==version` as requirements-dev.txt pins it, if it does."""
    if DEV_PINS.exists():
        for line in DEV_PINS.read_text().splitlines():
            if line.lower().startswith(f"{name}=="):
                return line.split()[0]
    return None


def run(args: argparse.Namespace) -> int:
    ensure_installed()
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    redis = None
    if not env.get("REDIS_URL"):
        redis = RedisServer(tempfile.mkdtemp(prefix="phoneguard-redis-"),
                            binary=redis_server_binary(venv=VENV))
        env["REDIS_URL"] = redis.start()
        print(f"dev: started a private redis-server at {env['REDIS_URL']}", flush=True)
    for name, value in DEMO_CREDENTIALS.items():
        if not env.get(name) and not (name == "WEBHOOK_TOKEN" and _any_webhook_auth(env)):
            env[name] = value
            print(f"dev: {name} is unset; using the demo value {value!r} for this run",
                  flush=True)
    try:
        py = str(PYTHON)
        subprocess.run([py, "-m", "scripts.migrate"], check=True, cwd=ROOT, env=env)
        subprocess.run([py, "-m", "scripts.seed"], check=True, cwd=ROOT, env=env)
        port = env.get("PORT") or "8000"
        # honcho hands each process its own PORT counted up from -p; web is listed first.
        honcho = [py, "-m", "honcho", "start", "-f", str(ROOT / "Procfile"), "-p", port,
                  *args.processes]
        print(f"dev: web on http://127.0.0.1:{port}  (Ctrl-C stops all)", flush=True)
        return _foreground(honcho, env)
    finally:
        if redis:
            redis.stop()


def _any_webhook_auth(env: dict) -> bool:
    return any(env.get(n) for n in ("WEBHOOK_SECRET", "WAHA_HMAC_KEY", "WEBHOOK_TOKEN",
                                    "EVOLUTION_JWT_KEY"))


def _foreground(command: list[str], env: dict) -> int:
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return process.wait()


def test(args: argparse.Namespace) -> int:
    ensure_installed()
    lint = subprocess.run([str(PYTHON), "-m", "ruff", "check", "."], cwd=ROOT)
    if lint.returncode != 0:
        return lint.returncode
    return subprocess.run([str(PYTHON), "-m", "pytest", *args.pytest_args], cwd=ROOT).returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m scripts.dev", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run web, worker and clock locally")
    run_parser.add_argument("processes", nargs="*", default=["web", "worker", "clock"],
                            help="Procfile process types to start (default: web worker clock)")
    commands.add_parser("test", help="run ruff and the whole test suite; further arguments "
                        "go to pytest")
    commands.add_parser("lock", help="refresh requirements.txt and requirements-dev.txt from "
                        "pyproject.toml; further arguments go to uv pip compile (as "
                        "--upgrade-package NAME)")
    args, extra = parser.parse_known_args(argv)
    if args.command == "lock":
        args.uv_args = extra
        return lock(args)
    if args.command == "run":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return run(args)
    args.pytest_args = extra
    return test(args)


if __name__ == "__main__":
    raise SystemExit(main())
