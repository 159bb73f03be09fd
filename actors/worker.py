"""The worker's entry point: `dramatiq actors.worker`.

Chooses the broker from the environment before the actors are imported, as Dramatiq needs.
"""

import signal
import threading

from actors import outage_logging, runtime


def take_first_sigterm_only() -> None:
    """Make this worker process act on its first SIGTERM and ignore the copies that follow.

    Heroku and honcho signal the whole process group, and dramatiq's main process forwards
    that same SIGTERM to its worker processes, so each one gets it twice. Dramatiq takes a
    second SIGTERM as "kill now" and exits without requeueing the delayed resume checks it
    holds in memory; they would sit unacked until another worker's heartbeat recovery.
    The stop stays bounded by --worker-shutdown-timeout, and SIGKILL still ends it at once.
    """
    first = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or not callable(first):
        return
    taken = False

    def once(signum, frame):
        nonlocal taken
        if not taken:
            taken = True
            first(signum, frame)

    signal.signal(signal.SIGTERM, once)


# dramatiq imports this module in each worker process right after installing its own
# handler, and calls no hook of ours before that, so this runs at import.
take_first_sigterm_only()
outage_logging.install()  # dramatiq set its logging up before importing this module
broker = runtime.from_env("worker").broker

# Registers the actors on the broker above, actors.events' among them: the worker consumes
# every declared actor's queue, the events' queue included.
import actors.conflict  # noqa: E402,F401
