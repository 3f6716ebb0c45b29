"""Log lines are what Cloud Logging parses: one JSON object per line with severity, message and trace."""

from __future__ import annotations

import json
import logging

from service.runtime.logs import TRACE_KEY, JsonFormatter, trace_from_header


def format_line(level: int, message: str, **extra: object) -> dict[str, object]:
    record = logging.makeLogRecord({"name": "hookstream.hits", "levelno": level,
                                    "levelname": logging.getLevelName(level), "msg": message, **extra})
    line = JsonFormatter().format(record)
    assert "\n" not in line
    return json.loads(line)  # type: ignore[no-any-return]


def test_a_hit_log_line_is_structured_for_cloud_logging() -> None:
    entry = format_line(logging.INFO, "hit stored", stream="crm-orders", hit_id="h-1",
                        trace="projects/p/traces/abc123")
    assert entry == {"severity": "INFO", "message": "hit stored", "logger": "hookstream.hits",
                     "stream": "crm-orders", "hit_id": "h-1", TRACE_KEY: "projects/p/traces/abc123"}


def test_exceptions_are_logged_by_class_only() -> None:
    try:
        raise ValueError("payload=orderId%3DN1 secret=abc")
    except ValueError:
        import sys

        entry = format_line(logging.ERROR, "write failed", exc_info=sys.exc_info())
    assert entry["severity"] == "ERROR"
    assert entry["error"] == "ValueError"
    assert "secret" not in json.dumps(entry)


def test_trace_header_parsing() -> None:
    assert trace_from_header("105445aa7843bc8bf206b12000100000/1;o=1", "p") == \
        "projects/p/traces/105445aa7843bc8bf206b12000100000"
    assert trace_from_header(None, "p") is None
    assert trace_from_header("not a trace!/1", "p") is None


def test_gunicorn_error_lines_lose_request_lines_paths_and_query_strings() -> None:
    from service.runtime.gunicorn_logger import redact

    secret = "tok-0123456789abcdef"
    lines = [
        f"Invalid request from ip=127.0.0.1: Invalid HTTP request line: 'POST /hooks/{secret} X'",
        f"Error handling request POST /hooks/{secret}",
        f"Error handling request /hooks?token={secret}",
        f"Invalid request from ip=127.0.0.1: No more data after: b'{secret}'",
    ]
    for line in lines:
        assert secret not in redact(line), line
    assert redact("Invalid request from ip=10.0.0.1: Invalid HTTP Version: (9, 9)") == \
        "Invalid request from ip=10.0.0.1: Invalid HTTP Version: (9, 9)"
