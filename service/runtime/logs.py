"""Structured logs: one JSON object per line on stdout, which Cloud Logging turns into entries.

Fields: severity, message, logging.googleapis.com/trace, stream, hit_id and a few numbers. Payloads
and secrets are never passed to a log call, so they cannot appear here.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
TRACE_KEY = "logging.googleapis.com/trace"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if "trace" in entry:
            entry[TRACE_KEY] = entry.pop("trace")
        if record.exc_info and record.exc_info[0] is not None:
            # The exception's class only: messages of client libraries can quote request data.
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route hookstream's and gunicorn's logs to stdout as JSON lines (called once per process)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def trace_from_header(header: str | None, project: str) -> str | None:
    """`X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1` -> `projects/P/traces/TRACE_ID`."""
    if not header:
        return None
    trace_id = header.split("/", 1)[0].strip()
    if not trace_id.isalnum():
        return None
    return f"projects/{project}/traces/{trace_id}"
