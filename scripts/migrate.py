"""Apply pending database migrations (the `release` process), or roll back the conflict
columns with --down. Idempotent: running it on an up-to-date database changes nothing.

Reads DATABASE_URL only. Usage: python -m scripts.migrate [--down | --status]
"""

from __future__ import annotations

import argparse

from models.db import open_database
from models.schema import migrate_down, migrate_up, pending
from models.settings import Settings
from scripts.cli import guarded


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.migrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--down", action="store_true",
                       help="drop the conflict columns (the five of the contract and "
                            "held_until) and their indexes")
    group.add_argument("--status", action="store_true", help="list pending migrations")
    args = parser.parse_args(argv)
    return guarded("migrate", lambda: _migrate(args))


def _migrate(args) -> int:
    db = open_database(Settings.from_env().database_url)
    with db.connection_context():
        if args.status:
            names = pending(db)
            print("pending: " + (", ".join(names) if names else "none"))
            return 0
        names = migrate_down(db) if args.down else migrate_up(db)
    verb = "rolled back" if args.down else "applied"
    print(f"{verb}: {', '.join(names)}" if names else "nothing to do: database is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
