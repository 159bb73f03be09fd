"""GET /openapi.json: the OpenAPI 3 description of the HTTP API, shipped beside this file."""

from pathlib import Path

import falcon

SPEC = Path(__file__).with_name("openapi.json")


class OpenApiResource:
    def __init__(self):
        self.body = SPEC.read_bytes() if SPEC.exists() else b"{}"

    def on_get(self, req: falcon.Request, resp: falcon.Response):
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self.body
