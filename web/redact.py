"""The `token` query parameter is a credential (`?token=<WEBHOOK_TOKEN>`): its values, right or
wrong, are masked in every line gunicorn logs and in gunicorn's own error pages.
gunicorn.conf.py names RedactingLogger as gunicorn's `logger_class`, its own mechanism for this.

Masking the finished line rather than leaving the query out of the access log format keeps
the default format, and also covers an operator's own format (`%(q)s`, `%({raw_uri}e)s`, a
referer) and gunicorn's error lines, which quote a malformed request line as it came.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

from gunicorn import util
from gunicorn.glogging import Logger

MASK = "[redacted]"
# A parameter name in running text: at the start, or after a separator, a space, a quote, a
# slash or an `=` (a query string logged alone, `q=token=...`, or a URI after `raw=`), then `=`.
# Only the name is matched, so that names inside another parameter's value are found too.
NAME = re.compile(r"(?:^|(?<=[?&;=/\s'\"]))([^=&;?#/\s'\"]+)=")
VALUE_END = re.compile(r"[&;#\s'\"]")


def redact(text: str) -> str:
    """`text` with the value of every `token` query parameter masked, whatever the case or
    percent-encoding of its name (as a query parser would read it)."""
    if "=" not in text:
        return text
    parts, done = [], 0
    for match in NAME.finditer(text):
        if match.start() < done or unquote_plus(match.group(1)).strip().lower() != "token":
            continue
        end = VALUE_END.search(text, match.end())
        parts += [text[done:match.end()], MASK]
        done = end.start() if end else len(text)
    return "".join(parts) + text[done:]


class RedactFilter(logging.Filter):
    """Rewrites a record whose finished message holds a `token` value."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class RedactingLogger(Logger):
    """gunicorn's logger with RedactFilter on its access and error logs."""

    @classmethod
    def install(cls) -> None:
        """Called by gunicorn when it loads the class. gunicorn answers a malformed request
        line (a control character in the query, say) with a 400 page quoting it; that page
        is written by util.write_error, which no setting reaches, so it is wrapped here."""
        write_error = util.write_error
        if getattr(write_error, "redacts", False):
            return

        def redacted_write_error(sock, status_int, reason, mesg):
            return write_error(sock, status_int, reason, redact(mesg))

        redacted_write_error.redacts = True
        util.write_error = redacted_write_error

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.access_log, self.error_log):
            if not any(isinstance(f, RedactFilter) for f in log.filters):
                log.addFilter(RedactFilter())
