"""Every Redis key phoneguard writes is named here, and nowhere else.

Operators read these keys with redis-cli, so the shapes are part of the contract:
conflict:activity:{ws}:{sid}, conflict:seen:{ws}:{sid}:{digest of the message id}.
"""

import hashlib

PREFIX = "conflict"
DIGEST_BYTES = 16  # 32 hex characters: no two ids a sender could invent share one


def activity(workspace_id: int, session_id: str) -> str:
    """Hash of the session's latest phone activity; lives for the activity TTL."""
    return f"{PREFIX}:activity:{workspace_id}:{session_id}"


def seen(workspace_id: int, session_id: str, message_id: str) -> str:
    """Marker of a message already taken, so gateway retries count once. The id is kept as a
    fixed-length digest: the key cannot grow with whatever id a sender invents, and, the digest
    holding no colon, ids containing `:` cannot make two sessions' messages share a key."""
    return f"{PREFIX}:seen:{workspace_id}:{session_id}:{digest(message_id)}"


def delivery(workspace_id: int, webhook_id: str) -> str:
    """Marker of a Standard Webhooks delivery already taken (by its `webhook-id`), so a
    redelivery counts once even when its body has no message id."""
    return f"{PREFIX}:delivery:{workspace_id}:{digest(webhook_id)}"


def digest(text: str) -> str:
    """BLAKE2b-128 of the text's UTF-8 bytes, in hex (lone surrogates kept, not dropped)."""
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=DIGEST_BYTES).hexdigest()


def pause_pending(workspace_id: int, session_id: str) -> str:
    """Marker that a pause job for the session is queued and not yet started."""
    return f"{PREFIX}:pause-pending:{workspace_id}:{session_id}"


def seen_pattern(workspace_id: int | str = "*", session_id: str = "*") -> str:
    """SCAN pattern matching the seen markers of a session (default: every one)."""
    return f"{PREFIX}:seen:{workspace_id}:{session_id}:*"


def activity_pattern(workspace_id: int | None = None) -> str:
    """SCAN pattern matching every activity hash, or every one of a workspace."""
    if workspace_id is None:
        return f"{PREFIX}:activity:*"
    return f"{PREFIX}:activity:{int(workspace_id)}:*"


def ready_probe() -> str:
    """Key that /readyz writes to learn that Redis takes writes (not full, not a replica)."""
    return f"{PREFIX}:ready-probe"


def pause_pending_pattern() -> str:
    """SCAN pattern matching every pause-pending marker."""
    return f"{PREFIX}:pause-pending:*"


def parse_activity(key: str) -> tuple[int, str]:
    """(workspace_id, session_id) of an activity key; session ids may contain colons."""
    _, _, workspace_id, session_id = key.split(":", 3)
    return int(workspace_id), session_id


def parse_pause_pending(key: str) -> tuple[int, str]:
    """(workspace_id, session_id) of a pause-pending marker."""
    return parse_activity(key)  # the same {kind}:{ws}:{sid} shape


# -- Dramatiq's RedisBroker keys (dramatiq/brokers/redis/dispatch.lua), under its namespace --

BROKER_NAMESPACE = "dramatiq"  # the RedisBroker of actors.runtime is built with it


def broker_queue(queue: str, namespace: str = BROKER_NAMESPACE) -> str:
    """List of the ids of `queue`'s messages waiting for a worker (`queue` may be a
    delay queue, `{name}.DQ`)."""
    return f"{namespace}:{queue}"


def broker_messages(queue: str, namespace: str = BROKER_NAMESPACE) -> str:
    """Hash of `queue`'s messages (`queue` may be a delay queue) that no worker has
    acknowledged yet, by message id."""
    return f"{namespace}:{queue}.msgs"


def broker_heartbeats(namespace: str = BROKER_NAMESPACE) -> str:
    """Sorted set of the ids of the worker processes consuming, by last heartbeat."""
    return f"{namespace}:__heartbeats__"


def broker_acks(worker_id: str, queue: str, namespace: str = BROKER_NAMESPACE) -> str:
    """Set of the ids of `queue`'s messages one worker fetched and has not acknowledged."""
    return f"{namespace}:__acks__.{worker_id}.{queue}"


# -- metrics observed in the worker, read by web's /metrics ---------------------------------

def histogram(metric: str) -> str:
    """Hash of one histogram's bucket counts, observation count and sum."""
    return f"{PREFIX}:histogram:{metric}"
