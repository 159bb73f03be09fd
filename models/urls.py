"""DATABASE_URL and REDIS_URL checked against their drivers at start, without connecting.

A provider's URL may carry options meant for another driver (Scalingo's MySQL URL has the
JDBC options `useSSL` and `verifyServerCertificate`). Peewee and redis-py hand every query
option to the driver as a keyword, and the driver refuses an unknown one only at the first
connection: a traceback in the middle of a request or a migration. These checks ask the drivers
themselves (libpq's option parser, pymysql's and redis-py's constructors) before anything runs,
and turn a refusal into a ConfigError naming the variable and the option.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from models.errors import ConfigError

# The keywords of sqlite3.connect (a builtin whose signature Python cannot introspect).
SQLITE_OPTIONS = frozenset({"timeout", "detect_types", "isolation_level", "check_same_thread",
                            "factory", "cached_statements", "uri"})
# psycopg2.connect's own keywords; every other one goes to libpq.
PSYCOPG2_OPTIONS = frozenset({"connection_factory", "cursor_factory", "async", "async_"})
REDIS_CERT_REQS = ("required", "optional", "none")
MYSQL_TLS_HINT = "; pymysql's own TLS options are ssl_verify_cert=true and ssl_ca=<file>"


def redacted(url: str) -> str:
    """`url` with its password replaced by ***, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def redis_tls_options(url: str, cert_reqs: str) -> dict:
    """The keywords a Redis client of `url` takes from REDIS_SSL_CERT_REQS: only a rediss://
    connection has a certificate to check, and `ssl_cert_reqs` in the URL's query wins
    (redis-py applies the URL's options over the keywords)."""
    return {"ssl_cert_reqs": cert_reqs} if url.startswith("rediss://") else {}


def check_redis_url(url: str, cert_reqs: str) -> None:
    """Raise ConfigError naming REDIS_URL when redis-py would refuse `url` or one of its
    options."""
    import redis

    try:
        pool = redis.ConnectionPool.from_url(url, **redis_tls_options(url, cert_reqs))
        pool.connection_class(**pool.connection_kwargs)  # builds, does not connect
    except TypeError as exc:
        option = _keyword_of(exc)
        raise ConfigError(f"REDIS_URL has the option {option!r}, which redis-py does not take "
                          f"(for {urlsplit(url).scheme}://): remove it from the URL's query"
                          ) from None
    except (ValueError, redis.RedisError) as exc:
        raise ConfigError(f"REDIS_URL={redacted(url)!r} is not usable: {exc}") from None


def check_database_url(url: str) -> None:
    """Raise ConfigError naming DATABASE_URL when its scheme is unknown or its driver does not
    take one of its options."""
    from playhouse.db_url import connect

    try:
        db = connect(url)  # a Peewee database object: nothing connects yet
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"DATABASE_URL={redacted(url)!r} is not usable: {exc}") from None
    driver, takes = _driver_of(db)
    unknown = [name for name in db.connect_params if not takes(name)]
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        hint = MYSQL_TLS_HINT if driver == "pymysql" else ""
        raise ConfigError(f"DATABASE_URL has the option(s) {names}, which {driver} does not "
                          f"take: remove them from the URL's query{hint} (docs/deploying.md, "
                          "Provider URLs)")


def _driver_of(db):
    """The driver's name and a test of whether it takes a keyword."""
    from peewee import MySQLDatabase, PostgresqlDatabase

    if isinstance(db, PostgresqlDatabase):
        return "psycopg2 (libpq)", _libpq_takes
    if isinstance(db, MySQLDatabase):
        import inspect

        import pymysql.connections

        names = set(inspect.signature(pymysql.connections.Connection.__init__).parameters)
        return "pymysql", names.__contains__
    return "sqlite3", SQLITE_OPTIONS.__contains__


def _libpq_takes(name: str) -> bool:
    import psycopg2

    if name in PSYCOPG2_OPTIONS:
        return True
    try:
        psycopg2.extensions.parse_dsn(f"{name}=x")  # libpq's own list of connection options
    except psycopg2.ProgrammingError:
        return False
    return True


def _keyword_of(exc: TypeError) -> str:
    found = re.search(r"keyword argument '([^']+)'", str(exc))
    return found.group(1) if found else str(exc)
