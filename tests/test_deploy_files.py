"""What a platform reads from the repository: the lockfile and .python-version the Heroku
Python buildpack detects, and app.json, kept true to the Procfile, to Settings and to
pyproject.toml."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from models.settings import Settings
from scripts.stack import ROOT, procfile

# The files by which the buildpack picks a package manager: it wants exactly one.
PACKAGE_MANAGER_FILES = ["requirements.txt", "Pipfile", "Pipfile.lock", "poetry.lock",
                         "uv.lock"]
RELOCK = "run `python3 -m scripts.dev lock` and commit requirements*.txt"


def pins(path: Path) -> dict[str, Requirement]:
    """The requirements of a compiled requirements file, by canonical name."""
    text = path.read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].split(" --hash", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def pinned_version(requirement: Requirement) -> str:
    (spec,) = requirement.specifier
    assert spec.operator == "==", f"{requirement} is not pinned exactly: {RELOCK}"
    return spec.version


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# -- the buildpack's detection --------------------------------------------------------------
def test_the_buildpack_finds_exactly_one_package_manager_file_and_it_is_requirements_txt():
    present = [name for name in PACKAGE_MANAGER_FILES if (ROOT / name).exists()]
    assert present == ["requirements.txt"]


def test_python_version_names_a_version_the_buildpack_supports_and_this_python_runs():
    lines = [line.strip() for line in (ROOT / ".python-version").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(lines) == 1 and re.fullmatch(r"3\.1[0-4](\.\d+)?", lines[0]), lines
    assert lines[0].split(".")[:2] == [str(v) for v in sys.version_info[:2]]


def test_every_runtime_dependency_is_pinned_with_hashes_and_no_development_tool_is():
    runtime = pins(ROOT / "requirements.txt")
    text = (ROOT / "requirements.txt").read_text()
    assert text.count("--hash=sha256:") >= len(runtime)
    for dependency in map(Requirement, pyproject()["project"]["dependencies"]):
        pinned = runtime.get(canonicalize_name(dependency.name))
        assert pinned, f"{dependency.name} is missing from requirements.txt: {RELOCK}"
        assert dependency.specifier.contains(pinned_version(pinned)), \
            f"requirements.txt pins {pinned}, pyproject wants {dependency}: {RELOCK}"
    development = {canonicalize_name(Requirement(r).name)
                   for extra in pyproject()["project"]["optional-dependencies"].values()
                   for r in extra} - {"phoneguard"}
    assert not development & set(runtime), "development tools go to requirements-dev.txt"


def test_the_development_pins_hold_the_runtime_pins_and_every_extra():
    runtime, dev = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements-dev.txt")
    for name, requirement in runtime.items():
        assert name in dev and pinned_version(dev[name]) == pinned_version(requirement), \
            f"requirements-dev.txt pins {dev.get(name)}, requirements.txt {requirement}: {RELOCK}"
    for extra in pyproject()["project"]["optional-dependencies"].values():
        for dependency in map(Requirement, extra):
            name = canonicalize_name(dependency.name)
            assert name == "phoneguard" or name in dev, f"{name} is not pinned: {RELOCK}"


def test_the_tests_run_on_the_versions_the_platform_installs():
    for name, requirement in pins(ROOT / "requirements.txt").items():
        if requirement.marker is None or requirement.marker.evaluate():
            assert metadata.version(name) == pinned_version(requirement), \
                f"{name} in this environment is not requirements.txt's: python3 -m scripts.dev test"


# -- app.json ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app_json() -> dict:
    return json.loads((ROOT / "app.json").read_text())


class Recording(dict):
    """An environment that remembers every variable read from it."""

    def __init__(self):
        super().__init__()
        self.read: set[str] = set()

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)


def variables_the_service_reads() -> set[str]:
    environ = Recording()
    Settings.from_env(environ)
    in_procfile = {name for command in procfile().values()
                   for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", command)}
    return environ.read | in_procfile


def test_app_json_runs_every_process_type_of_the_procfile_and_exactly_one_clock(app_json):
    formation = app_json["formation"]
    assert set(formation) == set(procfile()) - {"release"}
    assert formation["clock"]["quantity"] == 1
    assert all(formation[name]["quantity"] >= 1 for name in formation)


def test_app_json_migrates_as_the_release_phase_does(app_json):
    assert app_json["scripts"]["postdeploy"] == procfile()["release"]


def test_app_json_builds_with_the_python_buildpack_and_adds_postgresql_and_redis(app_json):
    assert app_json["buildpacks"] == [{"url": "heroku/python"}]
    assert {addon.split(":")[0] for addon in app_json["addons"]} == {"heroku-postgresql",
                                                                      "heroku-redis"}


def test_every_variable_app_json_sets_is_one_the_service_reads(app_json):
    unknown = set(app_json["env"]) - variables_the_service_reads()
    assert not unknown, f"app.json sets {unknown}, which no process reads"


def test_app_json_generates_the_tokens_and_accepts_the_providers_certificate(app_json):
    env = app_json["env"]
    assert env["API_TOKEN"]["generator"] == env["WEBHOOK_TOKEN"]["generator"] == "secret"
    assert env["REDIS_SSL_CERT_REQS"]["value"] == "none"


def test_the_environment_app_json_makes_starts_web_on_heroku_style_urls(app_json):
    environ = dict(deployed_environment(app_json["env"]))
    environ.update({"DATABASE_URL": "postgres://u:p@ec2.example.com:5432/d1?sslmode=require",
                    "REDIS_URL": "rediss://:p@ec2.example.com:6380", "PORT": "31337"})
    settings = Settings.from_env(environ)
    settings.require_webhook_auth()
    assert settings.redis_ssl_cert_reqs == "none"


def deployed_environment(env: Mapping[str, dict]) -> Iterator[tuple[str, str]]:
    """The variables a Deploy button sets: fixed values, and a secret for each generator."""
    for name, spec in env.items():
        if "value" in spec:
            yield name, spec["value"]
        elif spec.get("generator") == "secret":
            yield name, "0" * 64
