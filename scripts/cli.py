"""What every operator command shares: expected failures as one line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

import redis
from peewee import DatabaseError, ImproperlyConfigured, InterfaceError

from models.errors import ConfigError, StoreUnavailable


def guarded(prog: str, work: Callable[[], int]) -> int:
    """Run `work`, turning the expected failures into one line on stderr and an exit code:
    2 for a bad setting, 1 for Redis or the database out of reach."""
    try:
        return work()
    except ConfigError as exc:
        return _fail(prog, str(exc), 2)
    except (redis.RedisError, StoreUnavailable) as exc:
        return _fail(prog, f"Redis at REDIS_URL is unreachable or failed: {exc}", 1)
    except (DatabaseError, InterfaceError, ImproperlyConfigured) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return _fail(prog, f"the database at DATABASE_URL failed: {first} (is it up, and "
                           "migrated with python -m scripts.migrate?)", 1)


def _fail(prog: str, message: str, code: int) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return code
