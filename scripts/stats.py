"""Print a workspace's conflict statistics, the same four figures as
GET /api/v1/workspaces/{workspace_id}/conflict-stats: campaigns paused for mobile activity now,
campaigns resumed since 00:00 UTC, the mean length of every completed pause (from the audit
trail), and campaigns paused more than once.

Reads DATABASE_URL. Usage: python -m scripts.stats --workspace N [--json]
"""

from __future__ import annotations

import argparse
import json

from models.db import database, open_database, utcnow
from models.reports import conflict_stats
from models.settings import Settings
from scripts.cli import guarded

LABELS = {
    "total_paused": "paused now (phone activity or hold)",
    "total_resumed_today": "resumed since 00:00 UTC",
    "average_pause_duration": "average pause (seconds)",
    "campaigns_paused_multiple_times": "paused more than once",
    "total_held": "held by an operator now",
}


def render(workspace_id: int, stats: dict) -> str:
    """A two-column table: what each figure means, its value, its API field name."""
    width = max(len(label) for label in LABELS.values())
    lines = [f"Conflict stats for workspace {workspace_id}"]
    lines += [f"  {LABELS[name]:<{width}}  {stats[name]:>10}  ({name})" for name in LABELS]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.stats", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=int, required=True, metavar="N",
                        help="workspace id")
    parser.add_argument("--json", action="store_true",
                        help="print the figures as JSON, as the API's data field")
    args = parser.parse_args(argv)
    return guarded("stats", lambda: _stats(args.workspace, args.json))


def _stats(workspace_id: int, as_json: bool) -> int:
    open_database(Settings.from_env().database_url)
    with database.connection_context():
        stats = conflict_stats(workspace_id, now=utcnow())
    print(json.dumps(stats) if as_json else render(workspace_id, stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
