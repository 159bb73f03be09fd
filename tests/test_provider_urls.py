"""Provider URLs: the options a platform's DATABASE_URL or REDIS_URL carries reach the driver,
and an option the driver does not take stops every process at start, by name, without a
traceback."""

from __future__ import annotations

import subprocess
from urllib.parse import urlsplit, urlunsplit

import pytest

from models.errors import ConfigError
from models.settings import Settings
from scripts.stack import Stack
from tests import servers
from tests.conftest import scratch_database_on

SCALINGO_MYSQL = ("mysql://app:s3cret@127.0.0.1:3306/test"
                  "?useSSL=true&verifyServerCertificate=false")
BAD_URLS = {
    "DATABASE_URL": (SCALINGO_MYSQL, ["useSSL", "verifyServerCertificate"]),
    "REDIS_URL": ("redis://127.0.0.1:6379/0?ssl=true", ["ssl"]),
}


def with_query(url: str, query: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query=query))


@pytest.fixture(scope="module")
def postgres_url():
    with scratch_database_on("postgresql") as scratch:
        yield scratch


# -- the check, in-process ------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "postgres://u:p@db.example.com:5432/d1?sslmode=require",
    "postgresql://u:p@db.example.com/d1?sslmode=verify-full&connect_timeout=10",
    "mysql://u:p@db.example.com/d1?ssl_verify_cert=true&charset=utf8mb4",
    "sqlite:///var/x.db?timeout=10",
])
def test_a_database_url_whose_options_the_driver_takes_is_accepted(url):
    assert Settings.from_env({"DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize("url, driver, options", [
    (SCALINGO_MYSQL, "pymysql", ["useSSL", "verifyServerCertificate"]),
    ("postgres://u:p@db.example.com/d1?ssl=true", "psycopg2", ["ssl"]),
    ("sqlite:///var/x.db?journal=wal", "sqlite3", ["journal"]),
])
def test_a_database_url_option_the_driver_does_not_take_is_named_with_the_variable(
        url, driver, options):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"DATABASE_URL": url})
    message = str(error.value)
    assert message.startswith("DATABASE_URL") and driver in message
    assert all(repr(option) in message for option in options)
    assert "s3cret" not in message and "u:p@" not in message


@pytest.mark.parametrize("url, named", [
    ("redis://h:6379/0?ssl=true", "'ssl'"),
    ("redis://h:6379/0?ssl_cert_reqs=none", "'ssl_cert_reqs'"),  # TLS options need rediss://
    ("rediss://h:6379/0?ssl_cert_reqs=sometimes", "sometimes"),
    ("rediss://:s3cret@h:6379/0?db=zero", "'db'"),
])
def test_a_redis_url_option_redis_py_does_not_take_is_named_with_the_variable(url, named):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"REDIS_URL": url})
    assert str(error.value).startswith("REDIS_URL") and named in str(error.value)
    assert "s3cret" not in str(error.value)


# -- sslmode reaches libpq ------------------------------------------------------------------
@pytest.mark.parametrize("sslmode", ["disable", "prefer"])
def test_release_migrates_a_postgres_url_with_an_sslmode(postgres_url, sslmode):
    url = with_query(postgres_url.replace("postgresql://", "postgres://", 1), f"sslmode={sslmode}")
    result = run_process("release", {"DATABASE_URL": url})
    assert result.returncode == 0, result.stdout
    assert "applied" in result.stdout or "up to date" in result.stdout


def test_sslmode_require_is_handed_to_libpq_and_a_server_without_tls_is_one_clean_line(
        postgres_url):
    """The local PostgreSQL has no TLS, so `require` must fail, and libpq's own words show
    that the option reached it (docs/deploying.md: the real require is Heroku's)."""
    if "does not support SSL" not in (servers.unreachable(
            with_query(postgres_url, "sslmode=require")) or ""):
        pytest.skip("this PostgreSQL speaks TLS: sslmode=require would simply work")
    result = run_process("release", {"DATABASE_URL": with_query(postgres_url,
                                                                "sslmode=require")})
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stdout and "SSL was required" in result.stdout
    assert "Traceback" not in result.stdout


# -- every process refuses a bad URL before serving ----------------------------------------
@pytest.mark.processes
@pytest.mark.parametrize("variable", list(BAD_URLS))
@pytest.mark.parametrize("process", ["release", "web", "worker", "clock"])
def test_a_url_option_the_driver_does_not_take_stops_each_process_by_name(process, variable):
    url, options = BAD_URLS[variable]
    result = run_process(process, {variable: url})

    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stdout.splitlines() if variable in line]
    assert lines and all(option in lines[-1] for option in options), result.stdout
    assert "Traceback" not in result.stdout and "s3cret" not in result.stdout


def run_process(name: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The Procfile's `name` run to its end with `env` (stdout and stderr together)."""
    stack = Stack(env={"REDIS_URL": "redis://127.0.0.1:9/0", **env})
    stack.start(name, wait=False)
    try:
        code = stack.wait_exit(name, timeout=60)
    finally:
        stack.stop()
    output = stack.log_path(name).read_text(errors="replace")
    return subprocess.CompletedProcess(name, code, output, "")
