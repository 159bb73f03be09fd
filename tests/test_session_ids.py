"""Session ids match exactly, as the Redis keys built from them do, on every database
(issue 12, item 9): MariaDB's default collation took `shop-1` and `SHOP-1 ` for `Shop-1`."""

from __future__ import annotations

import pytest

from models.conflict import pause_session, session_accounts
from models.db import utcnow
from models.errors import UnknownSession
from tests.e2e_helpers import start_worker
from tests.stack_helpers import API, post_phone_message, seed, statuses, wait_until
from web.app import workspace_of_session

LOOKALIKES = ["shop-1", "SHOP-1", "Shop-1 ", "SHOP-1 ", " Shop-1"]


def test_a_session_id_finds_only_the_account_of_exactly_that_id(db, settings, account_factory):
    account, _ = account_factory(1, "Shop-1")

    assert session_accounts(1, "Shop-1") == {account.id: 1}
    for lookalike in LOOKALIKES:
        assert session_accounts(1, lookalike) == {}, lookalike
        assert pause_session(settings, 1, lookalike, now=utcnow(),
                             last_activity_ms=None).campaign_ids == []
        with pytest.raises(UnknownSession):
            workspace_of_session(lookalike)
    assert workspace_of_session("Shop-1") == 1


@pytest.mark.processes
def test_phone_messages_of_lookalike_sessions_never_pause_another_sessions_campaigns(
        backend_stack):
    account = seed(1, "Shop-1")
    stack = backend_stack()
    stack.start("web")
    start_worker(stack)
    worker_log = stack.log_path("worker")

    for lookalike in ("shop-1", "SHOP-1 "):
        assert post_phone_message(stack, 1, lookalike)[0] == 200
    status, body = post_phone_message(stack, None, "shop-1")  # the workspace from the account
    assert status == 422 and "no account has session 'shop-1'" in body["message"]
    wait_until(stack, lambda: worker_log.read_text().count("campaigns=[]") == 2, 10,
               "both pause jobs ran")

    assert statuses(account) == ["ongoing", "ongoing"]
    permission = stack.get("/api/v1/workspaces/1/sessions/Shop-1/send-permission", API)[1]
    assert permission["data"]["allowed"] is True  # no activity under Shop-1's own key
    assert post_phone_message(stack, 1, "Shop-1")[0] == 200
    wait_until(stack, lambda: statuses(account) == ["paused_mobile"] * 2, 10, "Shop-1 paused")
