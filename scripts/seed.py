"""Seed a demo workspace: workspace 1 with WhatsApp session `demo` (tier 4, 20 s cooldown)
and three ongoing campaigns. Idempotent: rows that exist are left as they are.

Reads DATABASE_URL only. Usage: python -m scripts.seed [--workspace N] [--session ID]
"""

from __future__ import annotations

import argparse

from models.db import database, open_database
from models.settings import Settings
from models.tables import ONGOING, Campaign, WhatsappAccount
from scripts.cli import guarded


def seed(workspace_id: int, session_id: str, tier: int, campaigns: int) -> WhatsappAccount:
    """Create the demo account and its campaigns where they are missing."""
    with database.atomic():
        account, _ = WhatsappAccount.get_or_create(
            workspace_id=workspace_id, session_id=session_id, defaults={"tier": tier})
        for n in range(1, campaigns + 1):
            Campaign.get_or_create(
                workspace_id=workspace_id, whatsapp_account_id=account.id,
                name=f"Demo campaign {n}", defaults={"status": ONGOING})
    return account


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.seed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=int, default=1, help="workspace id (default 1)")
    parser.add_argument("--session", default="demo", help="session id (default demo)")
    parser.add_argument("--tier", type=int, default=4, choices=[1, 2, 3, 4],
                        help="account tier (default 4: 20 s cooldown)")
    parser.add_argument("--campaigns", type=int, default=3, help="ongoing campaigns (default 3)")
    args = parser.parse_args(argv)
    return guarded("seed", lambda: _seed(args))


def _seed(args) -> int:
    open_database(Settings.from_env().database_url)
    with database.connection_context():
        account = seed(args.workspace, args.session, args.tier, args.campaigns)
        names = [c.name for c in Campaign.select().where(
            Campaign.whatsapp_account_id == account.id)]
    print(f"seeded workspace {args.workspace}, session {args.session!r} (tier {account.tier}): "
          f"{len(names)} campaigns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
