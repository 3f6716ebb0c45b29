"""gunicorn's logger without the access log, and without the request line in its error lines.

gunicorn turns its access log on whenever a logging config is given (we give one, for JSON lines), and
then formats an access line for every request. hookstream writes its own line per hit instead, and an
access line would print the request path, which in token mode holds the endpoint secret.

gunicorn's error lines quote the request too: "Invalid request from ip=...: Invalid Request Line
'POST /hooks/<token> ...'", "Error handling request /hooks/<token>". Every message is redacted before
it is written: quoted fragments, anything after `/hooks/` and query strings are replaced.
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

REDACTED = "<redacted>"
_QUOTED = re.compile(r"""b?'[^']*'|b?"[^"]*\"""")
_HOOK_PATH = re.compile(r"/hooks/\S*")
_QUERY = re.compile(r"\?\S*")


def redact(text: str) -> str:
    """`Invalid Request Line 'POST /hooks/abc?x=1'` -> `Invalid Request Line '<redacted>'`."""
    text = _QUOTED.sub(f"'{REDACTED}'", text)
    text = _HOOK_PATH.sub(f"/hooks/{REDACTED}", text)
    return _QUERY.sub(f"?{REDACTED}", text)


class RedactRequestFilter(logging.Filter):
    """Attached to gunicorn's error logger (service/runtime/gunicorn.conf.py): every line it writes is redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class NoAccessLogLogger(Logger):  # type: ignore[misc]
    def _compute_access_log_enabled(self) -> bool:
        return False

    def access(self, *args: object, **kwargs: object) -> None:
        return None
