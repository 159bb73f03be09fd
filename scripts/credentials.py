"""Issue, list and revoke a workspace's own webhook credentials.

A workspace credential accepts deliveries for that workspace only (its URL
/api/v1/workspaces/{id}/whatsapp/webhook, or a body naming it), so one tenant's gateway cannot
pause another's campaigns. The value is printed once, by `issue`, and stored nowhere: the
database keeps a token's SHA-256, or the salt a signing key is derived from with
WEBHOOK_CREDENTIALS_KEY (which `web` must have too). A revoked credential is refused from the
next delivery on. See docs/credentials.md.

Kinds:
  token      X-Webhook-Token, Authorization: Bearer or ?token= (Evolution, WAHA Core)
  waha-hmac  WAHA's webhook hmac key (X-Webhook-Hmac); needs WEBHOOK_CREDENTIALS_KEY
  secret     a Standard Webhooks whsec_ secret (the Node gateway); needs WEBHOOK_CREDENTIALS_KEY

Reads DATABASE_URL (and WEBHOOK_CREDENTIALS_KEY). Examples:
  python -m scripts.credentials issue --workspace 7 --kind token
  python -m scripts.credentials list [--workspace 7]
  python -m scripts.credentials revoke 12
"""

from __future__ import annotations

import argparse
import sys

from models import credentials
from models.db import database, open_database, utcnow
from models.settings import Settings
from scripts.cli import guarded


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    return guarded("credentials", lambda: _run(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.credentials", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    issue = commands.add_parser("issue", help="issue a credential; its value is printed once")
    issue.add_argument("--workspace", type=_workspace, required=True, metavar="N")
    issue.add_argument("--kind", choices=credentials.KINDS, default=credentials.TOKEN,
                       help="what the gateway sends (default: token)")
    listing = commands.add_parser("list", help="list credentials (never their values)")
    listing.add_argument("--workspace", type=_workspace, metavar="N",
                         help="only this workspace's")
    revoke = commands.add_parser("revoke", help="revoke a credential by the id list shows")
    revoke.add_argument("id", type=int, help="the credential's id")
    return parser


def _workspace(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**63:
        raise argparse.ArgumentTypeError("a workspace id is a positive integer")
    return int(text)


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    open_database(settings.database_url)
    with database.connection_context():
        if args.command == "issue":
            return _issue(args.workspace, args.kind, settings)
        if args.command == "list":
            return _list(args.workspace)
        return _revoke(args.id)


def _issue(workspace_id: int, kind: str, settings: Settings) -> int:
    issued = credentials.issue(workspace_id, kind, server_key=settings.webhook_credentials_key,
                               now=utcnow())
    print(f"Issued {kind} credential {issued.id} for workspace {workspace_id}. It is shown "
          "this once; give it to the gateway now:", file=sys.stderr)
    print(issued.value)
    print(f"It is accepted on /api/v1/workspaces/{workspace_id}/whatsapp/webhook (or with a "
          f"body naming workspace {workspace_id}) and nowhere else.", file=sys.stderr)
    return 0


def _list(workspace_id: int | None) -> int:
    rows = credentials.listing(workspace_id)
    if not rows:
        print("No workspace webhook credentials.")
        return 0
    print(f"{'id':>6}  {'workspace':>10}  {'kind':<10}  {'created (UTC)':<19}  revoked (UTC)")
    for row in rows:
        revoked = f"{row.revoked_at:%Y-%m-%d %H:%M:%S}" if row.revoked_at else "-"
        print(f"{row.id:>6}  {row.workspace_id:>10}  {row.kind:<10}  "
              f"{row.created_at:%Y-%m-%d %H:%M:%S}  {revoked}")
    return 0


def _revoke(credential_id: int) -> int:
    row = credentials.revoke(credential_id, now=utcnow())
    if row is None:
        print(f"credentials: no credential {credential_id} (see python -m scripts.credentials "
              "list)", file=sys.stderr)
        return 1
    print(f"Revoked {row.kind} credential {row.id} of workspace {row.workspace_id}: refused "
          "from the next delivery on.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
