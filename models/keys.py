"""Every Redis key phoneguard writes is named here, and nowhere else.

Operators read these keys with redis-cli, so the shapes are part of the contract:
conflict:activity:{ws}:{sid}, conflict:seen:{ws}:{sid}:{message_id}.
"""

PREFIX = "conflict"


def activity(workspace_id: int, session_id: str) -> str:
    """Hash of the session's latest phone activity; lives for the activity TTL."""
    return f"{PREFIX}:activity:{workspace_id}:{session_id}"


def seen(workspace_id: int, session_id: str, message_id: str) -> str:
    """Marker of a webhook already taken, so gateway retries count once."""
    return f"{PREFIX}:seen:{workspace_id}:{session_id}:{message_id}"


def pause_pending(workspace_id: int, session_id: str) -> str:
    """Marker that a pause job for the session is queued and not yet started."""
    return f"{PREFIX}:pause-pending:{workspace_id}:{session_id}"


def activity_pattern(workspace_id: int | None = None) -> str:
    """SCAN pattern matching every activity hash, or every one of a workspace."""
    if workspace_id is None:
        return f"{PREFIX}:activity:*"
    return f"{PREFIX}:activity:{int(workspace_id)}:*"


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
