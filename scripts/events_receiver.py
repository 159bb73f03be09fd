"""Run a receiver for phoneguard's events, as a campaign sender would: every delivery's
Standard Webhooks signature is verified with the standardwebhooks library, then the event is
printed as one JSON line. A retry (a webhook-id seen before) is printed once more, marked.

    EVENTS_WEBHOOK_SECRET=whsec_... python -m scripts.events_receiver --port 8081

and on phoneguard's processes EVENTS_WEBHOOK_URL=http://127.0.0.1:8081/events with the same
secret. Reads EVENTS_WEBHOOK_SECRET unless --secret is given. Stop it with Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from models.settings import Settings
from scripts.cli import guarded


def make_server(host: str, port: int, secret: str, out=sys.stdout) -> ThreadingHTTPServer:
    """An HTTP server that verifies and prints each event posted to it (any path)."""
    webhook = Webhook(secret)
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                event = webhook.verify(body, dict(self.headers.items()))
            except (WebhookVerificationError, ValueError) as exc:
                print(f"refused a delivery: {exc}", file=sys.stderr, flush=True)
                self.send_response(401)
                self.end_headers()
                return
            webhook_id = self.headers["webhook-id"]
            line = {"webhook_id": webhook_id, "retry": webhook_id in seen, **event}
            seen.add(webhook_id)
            print(json.dumps(line), file=out, flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format, *args):  # one line per event is enough
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.events_receiver",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (8081)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--secret", help="the whsec_ secret (default EVENTS_WEBHOOK_SECRET)")
    args = parser.parse_args(argv)
    return guarded("events_receiver", lambda: _serve(args))


def _serve(args) -> int:
    secret = args.secret or Settings.from_env().events_secret
    if not secret:
        print("events_receiver: set EVENTS_WEBHOOK_SECRET or pass --secret", file=sys.stderr)
        return 2
    server = make_server(args.host, args.port, secret)
    print(f"listening on http://{args.host}:{server.server_port}/events", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
