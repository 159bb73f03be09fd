"""What the campaign sender hears: one event per pause and per resume, as the contract's
Standard Webhooks body."""

from __future__ import annotations

from dataclasses import dataclass

from models.activity import iso_ms

PAUSED = "campaigns.paused"
RESUMED = "campaigns.resumed"


@dataclass(frozen=True)
class Event:
    """Campaigns of one session paused or resumed at `at_ms`, and why."""

    type: str
    workspace_id: int
    session_id: str
    campaign_ids: tuple[int, ...]
    reason: str
    at_ms: int
    next_check_ms: int | None = None

    def body(self) -> dict:
        """The JSON body the campaign sender receives."""
        return {
            "type": self.type,
            "timestamp": iso_ms(self.at_ms),
            "data": {
                "workspace_id": self.workspace_id,
                "session_id": self.session_id,
                "campaign_ids": list(self.campaign_ids),
                "reason": self.reason,
                "next_check_at": (None if self.next_check_ms is None
                                  else iso_ms(self.next_check_ms)),
            },
        }
