"""Slow clients against the Procfile's own `web` line, with no proxy in front (issue 12, item
1): connections that trickle their headers or their body must not keep a valid webhook from
being answered. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import socket
import threading
import time
import uuid

import pytest

from scripts.stack import Stack
from tests.conftest import DATABASES, scratch_database_on
from tests.fixtures import node_event
from web.app import DATABASE_CONNECTIONS
from web.body_slots import LARGE_BODIES

pytestmark = pytest.mark.processes

SLOW_HEADERS = 50
SLOW_BODIES = 30
LARGE_SLOW_BODIES = 20  # more than a web process reads at once (web.body_slots)
TRICKLE_EVERY = 1.0  # seconds between two bytes of one slow client
TRICKLE_FOR = 20.0  # the slow clients give up after this long, whatever happens
# Generous: a webhook is answered in milliseconds; sync workers tied up by slow clients
# answered only when gunicorn killed a worker (30 s).
ANSWERED_WITHIN = 5.0
TOKEN = {"X-Webhook-Token": "stack-token"}
API = {"Authorization": "Bearer stack-api-token"}


@pytest.fixture
def stack():
    with Stack() as running:
        yield running


def open_slow_client(port: int, *, body: int = 0) -> socket.socket:
    """A connection that has sent a request's first line and one header (`body=0`), or its
    headers and the first byte of a `body`-byte body, and stops there."""
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    start = b"POST /api/v1/whatsapp/webhook HTTP/1.1\r\nHost: localhost\r\n"
    if body:
        start += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n{" % body
    client.sendall(start)
    return client


def trickle(clients: list[tuple[socket.socket, bool]], stop: threading.Event) -> None:
    """One more byte on every slow client each TRICKLE_EVERY s, for at most TRICKLE_FOR s."""
    deadline = time.monotonic() + TRICKLE_FOR
    while not stop.wait(TRICKLE_EVERY) and time.monotonic() < deadline:
        for client, body in clients:
            with contextlib.suppress(OSError):  # the server may have cut it: that is allowed
                client.sendall(b" " if body else b"X")


def test_a_webhook_is_answered_while_a_hundred_slow_clients_hold_connections(stack):
    stack.start("web")
    clients = [(open_slow_client(stack.port), False) for _ in range(SLOW_HEADERS)]
    clients += [(open_slow_client(stack.port, body=1000), True) for _ in range(SLOW_BODIES)]
    clients += [(open_slow_client(stack.port, body=10 * 2**20), True)
                for _ in range(LARGE_SLOW_BODIES)]
    stop = threading.Event()
    trickler = threading.Thread(target=trickle, args=(clients, stop), daemon=True)
    trickler.start()
    try:
        time.sleep(2 * TRICKLE_EVERY)  # every worker has taken some of them by now
        body = node_event(message_id=uuid.uuid4().hex)
        sent = time.monotonic()
        status, answer = stack.post("/api/v1/whatsapp/webhook", body, TOKEN)
        took = time.monotonic() - sent
        still_open = sum(_open(client) for client, _ in clients)
    finally:
        stop.set()
        trickler.join(timeout=10)
        for client, _ in clients:
            client.close()

    print(f"\n[slow clients] webhook answered {status} in {took:.3f} s with "
          f"{SLOW_HEADERS} trickled headers, {SLOW_BODIES} trickled bodies and "
          f"{LARGE_SLOW_BODIES} trickled 10 MiB bodies "
          f"({still_open} still connected)")
    assert status == 200, f"not answered while slow clients held connections: {answer}"
    assert answer["success"] is True
    assert took < ANSWERED_WITHIN


def test_a_media_webhook_is_taken_while_stalled_bodies_hold_the_large_body_slots(stack):
    stack.start("web")
    # One fewer than the two web processes read at once: however they are spread, the webhook
    # may find every slot of its process taken, and waits at most one CHUNK_SECONDS for one.
    stalled = [open_slow_client(stack.port, body=10**6) for _ in range(2 * LARGE_BODIES - 1)]
    try:
        time.sleep(0.5)
        media = {**node_event(message_id=uuid.uuid4().hex), "media": "A" * 200_000}
        sent = time.monotonic()
        status, answer = stack.post("/api/v1/whatsapp/webhook", media, TOKEN)
        took = time.monotonic() - sent
        told = [_first_line(client) for client in stalled]
    finally:
        for client in stalled:
            client.close()

    print(f"\n[slow bodies] a 200 kB webhook answered {status} in {took:.1f} s while "
          f"{len(stalled)} stalled bodies held the large-body slots; they were told {told[0]}")
    assert status == 200, answer
    assert all(line.startswith(b"HTTP/1.1 408") for line in told), told


def _first_line(client: socket.socket) -> bytes:
    client.settimeout(10)
    with contextlib.suppress(OSError):
        return client.recv(4096).split(b"\r\n", 1)[0]
    return b""


def _open(client: socket.socket) -> bool:
    """Whether the server still holds this connection open (no EOF, no reset)."""
    client.setblocking(False)
    try:
        return client.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        client.setblocking(True)


def test_floods_of_database_requests_open_few_database_connections():
    """gevent serves many requests of one process at once; each must not open a PostgreSQL
    connection of its own (a small plan allows a few dozen in all). /readyz needs no
    credentials: one check at a time per process."""
    import psycopg2

    url = DATABASES["postgresql"]
    with scratch_database_on("postgresql") as scratch, Stack(env={"DATABASE_URL": scratch}) \
            as stack:
        stack.start("web")
        name = scratch.rsplit("/", 1)[1]
        watcher = psycopg2.connect(url)
        watcher.autocommit = True
        peak, stop = [0], threading.Event()

        def watch() -> None:
            with watcher.cursor() as cursor:
                while not stop.is_set():
                    cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                   (name,))
                    peak[0] = max(peak[0], cursor.fetchone()[0])
                    time.sleep(0.005)

        counting = threading.Thread(target=watch)
        counting.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(100) as pool:
                answers = list(pool.map(lambda _: stack.get("/readyz")[0], range(400)))
                readyz_peak = peak[0]
                stats = list(pool.map(lambda n: stack.get(
                    f"/api/v1/workspaces/{n % 7 + 1}/conflict-stats", API)[0], range(400)))
        finally:
            stop.set()
            counting.join(timeout=10)
            watcher.close()

    processes = int(stack.env.get("WEB_CONCURRENCY", "2"))
    print(f"\n[database floods] 400 requests each, 100 at a time: /readyz at most "
          f"{readyz_peak} connections, conflict-stats at most {peak[0]}")
    assert set(answers) == {200} and set(stats) == {200}
    assert readyz_peak <= processes
    assert peak[0] <= DATABASE_CONNECTIONS * processes
