"""Log lines are what Cloud Logging parses: one JSON object per line with severity, message and trace."""

from __future__ import annotations

import json
import logging
import threading

from service.runtime.logs import TRACE_KEY, CoalescingLineHandler, JsonFormatter, trace_from_header


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


class SlowStream:
    """A stdout whose first write blocks until released: time for other threads to log meanwhile."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.release = threading.Event()
        self.first_write_started = threading.Event()

    def write(self, text: str) -> int:
        if not self.writes:
            self.first_write_started.set()
            assert self.release.wait(10)
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_lines_logged_while_a_write_is_in_progress_go_out_together_and_whole() -> None:
    stream = SlowStream()
    handler = CoalescingLineHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    logger = logging.Logger("hookstream.test-coalescing")
    logger.addHandler(handler)
    first = threading.Thread(target=logger.warning, args=("hit stored",), kwargs={"extra": {"hit_id": "h-0"}})
    first.start()
    assert stream.first_write_started.wait(10)
    others = [threading.Thread(target=logger.warning, args=("hit stored",), kwargs={"extra": {"hit_id": f"h-{n}"}})
              for n in range(1, 21)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(10)
        assert not thread.is_alive()  # logging did not wait for the write in progress
    stream.release.set()
    first.join(10)
    assert len(stream.writes) == 2  # the first line, then the twenty queued meanwhile in one write
    lines = "".join(stream.writes).splitlines()
    assert sorted(json.loads(line)["hit_id"] for line in lines) == sorted(f"h-{n}" for n in range(21))
    assert all(json.loads(line)["message"] == "hit stored" for line in lines)
