"""Redis connections on a small plan (Heroku's mini allows 20 in all): a burst of webhooks
must not make a web process open one connection per request in flight and keep them. With the
Procfile's real processes and a real redis-server, counted in CLIENT LIST."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from scripts.stack import Stack
from tests.e2e_helpers import start_worker
from tests.stack_helpers import post_phone_message
from tests.test_faults import SHORT

pytestmark = pytest.mark.processes

CAP = 3
WEB_PROCESSES = 2
BURST = 120


def clients_by_name(redis_client) -> Counter:
    return Counter(client.get("name", "") for client in redis_client.client_list())


def test_a_burst_of_webhooks_holds_at_most_the_cap_per_web_process_and_all_are_answered():
    with Stack(env={**SHORT, "REDIS_MAX_CONNECTIONS": str(CAP),
                    "WEB_CONCURRENCY": str(WEB_PROCESSES)}) as stack:
        stack.start("web")
        observer = stack.redis_client()
        peak, statuses, done = 0, [], threading.Event()

        def sample():
            nonlocal peak
            while not done.is_set():
                peak = max(peak, clients_by_name(observer)["phoneguard-web"])
                time.sleep(0.005)

        def post(n):
            statuses.append(post_phone_message(stack, 1, f"s{n}")[0])

        sampler = threading.Thread(target=sample)
        sampler.start()
        senders = [threading.Thread(target=post, args=(n,)) for n in range(BURST)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        done.set()
        sampler.join()

        print(f"\n[redis] {BURST} webhooks at once: at most {peak} connections of web's "
              f"{WEB_PROCESSES} processes (cap {CAP} each)")
        assert Counter(statuses) == {200: BURST}
        assert 1 <= peak <= CAP * WEB_PROCESSES


def test_web_and_worker_name_themselves_in_client_list():
    # The clock does too, once a tick needs Redis (an idle one reads only the database).
    with Stack(env=SHORT) as stack:
        stack.start("web")
        start_worker(stack)
        assert post_phone_message(stack, 1, "s1")[0] == 200

        names = clients_by_name(stack.redis_client())

        assert {"phoneguard-web", "phoneguard-worker"} <= set(names)
