"""Per-workspace webhook credentials at the webhook: a delivery that the install-wide ways did
not accept may prove itself with a credential of one workspace, and is then bound to it.

Which credentials to try takes one indexed query: a delivery that names its workspace (the
workspace's URL, or a body naming it) is checked against that workspace's credentials only, so
a credential of workspace 2 never opens workspace 3; one that names none is found by its
token's digest, and the token's workspace becomes the delivery's. A signature (WAHA's HMAC,
Standard Webhooks) covers the body only, never the URL: a signed delivery must name its
workspace, and the binding comes from which workspace's key verified it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from standardwebhooks import Webhook

from models import credentials
from models.db import database
from models.settings import Settings
from web.auth import bearer, query_token_candidates, standard_problem, waha_problem

Lookup = Callable[..., list]


@dataclass(frozen=True)
class Verified:
    """A delivery accepted by a workspace's credential."""

    method: str
    workspace_id: int


class WorkspaceAuth:
    """Verifies a delivery against the credentials issued to workspaces."""

    def __init__(self, settings: Settings, lookup: Lookup = credentials.active_for,
                 clock: Callable[[], float] = time.time):
        self.server_key = settings.webhook_credentials_key
        self.lookup = lookup
        self.clock = clock

    def verify(self, headers: Mapping[str, str], body: bytes, query_tokens: Sequence[str],
               workspace_id: int | None) -> Verified | str:
        """The credential that accepts the delivery, else why none did ("" when it carries
        nothing a workspace credential could be). `workspace_id` is what the URL or the body
        names, or None."""
        digests = tuple(credentials.token_digest(t) for t in presented_tokens(headers,
                                                                              query_tokens))
        signed = bool(headers.get("webhook-signature") or headers.get("x-webhook-hmac"))
        if not (digests or signed) or database.obj is None:
            return ""
        if workspace_id is None and not digests:
            return ("a signature covers the body only: post to the workspace's URL "
                    "(/api/v1/workspaces/{workspace_id}/whatsapp/webhook) for its credential")
        rows = self.lookup(workspace_id=workspace_id, token_digests=digests)
        if not rows and workspace_id is not None:
            return ""  # the workspace has none: the install-wide refusal says it all
        for row in rows:
            method = self._accepts(row, headers, body, digests)
            if method:
                return Verified(method, row.workspace_id)
        if workspace_id is None:
            return "the token is not an active workspace credential"
        return f"no active credential of workspace {workspace_id} matches"

    def _accepts(self, row, headers, body, digests) -> str | None:
        if row.kind == credentials.TOKEN:
            # Equal digests of high-entropy tokens; compared in constant time all the same.
            if any(_same_digest(row.token_sha256, d) for d in digests):
                return "workspace-token"
            return None
        if not (self.server_key and row.key_salt):
            return None  # web refuses to start without the key while signing credentials exist
        value = credentials.signing_value(self.server_key, row.kind, row.workspace_id,
                                          row.key_salt)
        if row.kind == credentials.SECRET:
            if standard_problem([Webhook(value)], headers, body, self.clock()) is None:
                return "workspace-standard-webhooks"
        elif waha_problem([value.encode()], headers, body) is None:
            return "workspace-waha-hmac"
        return None


def presented_tokens(headers: Mapping[str, str], query_tokens: Sequence[str]) -> list[str]:
    """Every value a delivery offers as a token: X-Webhook-Token, a bearer value, `?token=`
    (with and without an event segment Evolution's byEvents appended)."""
    found = [headers.get("x-webhook-token"), bearer(headers.get("authorization"))]
    for given in query_tokens:
        found += query_token_candidates(given)
    return [t for t in found if t and t.startswith(credentials.TOKEN_PREFIX)]


def _same_digest(stored: str | None, given: str) -> bool:
    return stored is not None and hmac.compare_digest(stored.encode(), given.encode())
