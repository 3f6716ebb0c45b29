"""Log lines are what Cloud Logging parses: one JSON object per line with severity, message and trace."""

from __future__ import annotations

import datetime
import io
import json
import logging
import sys
import threading

import pytest

from service.runtime.logs import (
    TRACE_KEY,
    CoalescingLineHandler,
    JsonFormatter,
    configure_logging,
    log_fields,
    trace_from_header,
)


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


class Lines(io.StringIO):
    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.getvalue().splitlines()]


@pytest.fixture
def service_logging(monkeypatch: pytest.MonkeyPatch) -> Lines:
    """The root logger as configure_logging leaves it, writing into a buffer (restored after the test)."""
    stream = Lines()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(sys, "stdout", stream)
    configure_logging()
    return stream


def test_the_per_hit_line_is_written_whole_without_logging_machinery(service_logging: Lines) -> None:
    logger = logging.getLogger("hookstream.hits")
    fields: dict[str, object] = {"stream": "orders", "hit_id": "h-1", "bytes": 52, "latency_ms": 3.21,
                                 "trace": "projects/p/traces/abc", "when": datetime.date(2026, 11, 29)}
    log_fields(logger, logging.INFO, "hit stored", fields)
    logger.info("hit stored", extra=fields)  # the same line through logging, for comparison
    expected = {"severity": "INFO", "message": "hit stored", "logger": "hookstream.hits", "stream": "orders",
                "hit_id": "h-1", "bytes": 52, "latency_ms": 3.21, "when": "2026-11-29",
                TRACE_KEY: "projects/p/traces/abc"}
    assert service_logging.lines() == [expected, expected]
    assert list(service_logging.lines()[0]) == list(expected)  # same key order as the formatter's


def test_a_level_switched_off_writes_nothing(service_logging: Lines) -> None:
    logger = logging.getLogger("hookstream.hits")
    logger.setLevel(logging.WARNING)
    try:
        log_fields(logger, logging.INFO, "hit stored", {"hit_id": "h-1"})
        log_fields(logger, logging.WARNING, "hit spooled", {"hit_id": "h-2"})
    finally:
        logger.setLevel(logging.NOTSET)
    assert [line["hit_id"] for line in service_logging.lines()] == ["h-2"]


def test_any_other_handler_on_the_way_gets_a_real_record(service_logging: Lines,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    # caplog adds a handler to the root: the line must then reach it as a LogRecord with its fields.
    caplog.set_level(logging.INFO, logger="hookstream")
    log_fields(logging.getLogger("hookstream.hits"), logging.INFO, "hit stored", {"hit_id": "h-1"})
    assert [getattr(record, "hit_id", None) for record in caplog.records] == ["h-1"]
    assert [line["hit_id"] for line in service_logging.lines()] == ["h-1"]
