"""Retry an actor on a fixed backoff schedule, with Dramatiq's own Retry exception."""

from __future__ import annotations

import functools
import logging

from dramatiq import Retry
from dramatiq.middleware import CurrentMessage

log = logging.getLogger("phoneguard.actors")


class GaveUp(Exception):
    """Raised when an actor has failed on its last allowed attempt."""


def retry_schedule(*seconds: int):
    """Retry the decorated actor after each of `seconds` in turn, then give up.

    Dramatiq's Retries middleware backs off exponentially with jitter; the original design
    wants fixed delays (5 s, 30 s, 60 s), which Retry(delay=...) gives exactly. Passing
    failures are logged on one line; only the final one is logged with its traceback, once.
    Actors using this list GaveUp in `throws` and set max_retries=len(seconds).
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                message = CurrentMessage.get_current_message()
                retries = message.options.get("retries", 0) if message else len(seconds)
                if retries >= len(seconds):
                    log.error("%s%r gave up after %d attempts", fn.__name__, args, retries + 1,
                              exc_info=True)
                    raise GaveUp(f"{fn.__name__} gave up: {exc}") from exc
                log.info("%s%r failed (%s); retrying in %d s", fn.__name__, args, exc,
                         seconds[retries])
                raise Retry(str(exc), delay=seconds[retries] * 1000) from exc

        return wrapper

    return decorate
