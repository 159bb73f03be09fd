"""What the campaign sender hears: one event per pause and per resume, as the contract's
Standard Webhooks body."""

from __future__ import annotations

import hashlib
import json
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

    def webhook_id(self) -> str:
        """The delivery's `webhook-id`: the same for every event made of one commit, so a
        pause or check delivered again after its commit sends what it committed under the id
        the receiver may already have, and the receiver dedupes it."""
        key = json.dumps([self.type, self.workspace_id, self.session_id, self.at_ms,
                          self.reason, sorted(self.campaign_ids)])
        return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]

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
