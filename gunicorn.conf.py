"""gunicorn settings for the `web` process; values come from the environment via Settings."""

# Before anything else: the settings check below imports Peewee, redis-py and ssl, and a module
# imported before gevent patches keeps the real thread-local and locks. Peewee would then share
# one connection among all of a worker's requests.
# https://www.gevent.org/api/gevent.monkey.html
from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

from models.credentials import check_webhook_auth  # noqa: E402
from models.db import open_database  # noqa: E402
from models.errors import ConfigError  # noqa: E402
from models.settings import Settings  # noqa: E402

try:
    _settings = Settings.from_env()
    # Workspace credentials in the database count too; the connection is closed before fork.
    open_database(_settings.database_url)
    check_webhook_auth(_settings)
except ConfigError as exc:  # refuse to start, and say why, before forking any worker
    print(f"phoneguard web: {exc}", file=sys.stderr)
    sys.exit(2)

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.web_concurrency
# gevent: a connection costs a greenlet, not a worker, so clients that trickle their headers or
# body (slowloris, or a bad network) cannot stop the webhooks of everyone else; there is often
# no proxy in front to buffer them. The sync worker gives each connection a whole process, and
# gthread a whole thread from its first byte to its last, with no read timeout.
# https://docs.gunicorn.org/en/stable/design.html#choosing-a-worker-type
worker_class = "gevent"
# Connections one process holds at once (gunicorn's default); past it, new ones wait in the
# listen backlog instead of costing memory.
worker_connections = 1000
# Heroku-style routers give up after 30 s; a request that takes longer is stuck anyway.
timeout = 30
graceful_timeout = 20
# Also the gevent worker's deadline for a request's headers (only when above zero): a client
# that has not sent them all within it is disconnected.
keepalive = 5
# gunicorn 27's control socket sits at one fixed path per user; several stacks on one machine
# (tests, the benchmark) would fight over it, and nothing here uses it.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
# `?token=<WEBHOOK_TOKEN>` is a credential: its values are masked in every access and error
# line (https://docs.gunicorn.org/en/stable/settings.html#logger-class).
logger_class = "web.redact.RedactingLogger"
# Every worker counts into one directory so that /metrics adds them up.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="phoneguard-metrics-"))


def post_worker_init(worker):
    # gevent patches sockets, so redis-py and PyMySQL yield to other requests while they wait;
    # psycopg2 is C and needs its wait callback, or a slow query would stop the whole process.
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
