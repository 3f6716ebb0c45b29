"""Structured logs: one JSON object per line on stdout, which Cloud Logging turns into entries.

Fields: severity, message, logging.googleapis.com/trace, stream, hit_id and a few numbers. Payloads
and secrets are never passed to a log call, so they cannot appear here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
TRACE_KEY = "logging.googleapis.com/trace"


def _entry(severity: str, message: str, logger: str, fields: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"severity": severity, "message": message, "logger": logger, **fields}
    if "trace" in entry:
        entry[TRACE_KEY] = entry.pop("trace")
    return entry


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {key: value for key, value in vars(record).items()
                  if key not in _STANDARD_ATTRS and not key.startswith("_")}
        entry = _entry(record.levelname, record.getMessage(), record.name, fields)
        if record.exc_info and record.exc_info[0] is not None:
            # The exception's class only: messages of client libraries can quote request data.
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


class CoalescingLineHandler(logging.Handler):
    """Writes each record as one line, and the lines that arrive together in one write.

    Many threads log at once: the flusher answering a batch of parked hits, request threads refusing or
    spooling hits, each with its line. With a StreamHandler each line is one flush (a syscall that releases
    the GIL) under the handler's lock, so those threads queue on that lock and hand the GIL around once per
    line. Here a record is queued
    under a short lock; the thread that finds no write in progress writes everything queued, in order,
    and goes on until the queue is empty: no line waits for a timer or for a later request (Cloud Run
    throttles the CPU between requests), and a burst of lines costs a few writes instead of one each."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self._queued: list[str] = []
        self._writing = False
        # Reentrant, as logging's own handler lock: a record logged from within a write (a signal handler,
        # say) queues its line instead of deadlocking.
        self._queue_lock = threading.RLock()

    def handle(self, record: logging.LogRecord) -> bool:
        # Handler.handle would take the handler's lock around emit: the queue has its own, shorter one.
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        self.write_line(line, record)

    def write_line(self, line: str, record: logging.LogRecord | None = None) -> None:
        """Queue one finished line (ending in a newline) and write it, with any others queued meanwhile
        (inside `held_lines()`: when the block ends)."""
        with self._queue_lock:
            self._queued.append(line)
            if self._writing or _held_here():
                return  # the writing thread takes this line with its next write (or the holder, at its end)
            self._writing = True
        self._write_queued(record)

    def write_held(self) -> None:
        """Write what is queued, unless another thread is writing already (it takes the lines too)."""
        with self._queue_lock:
            if self._writing or not self._queued:
                return
            self._writing = True
        self._write_queued(None)

    def _write_queued(self, record: logging.LogRecord | None) -> None:
        while True:
            with self._queue_lock:
                lines, self._queued = self._queued, []
                if not lines:
                    self._writing = False
                    return
            try:
                self._stream.write("".join(lines))
                self._stream.flush()
            except Exception:
                self.handleError(record or logging.makeLogRecord({"msg": "writing queued log lines failed"}))

    def flush(self) -> None:
        # Nothing waits in the queue unless a thread is writing it out; only the stream may hold bytes.
        self._stream.flush()


_holding = threading.local()


def _held_here() -> bool:
    depth: int = getattr(_holding, "depth", 0)
    return depth > 0


@contextlib.contextmanager
def held_lines() -> Iterator[None]:
    """Lines this thread logs inside the block are written together when it ends. The flusher answers a
    whole batch of parked hits in one go: one write for their "hit stored" lines instead of one each (each
    write releases the GIL, and the flusher waits to get it back)."""
    _holding.depth = getattr(_holding, "depth", 0) + 1
    try:
        yield
    finally:
        _holding.depth -= 1
        if not _holding.depth:
            for handler in logging.getLogger().handlers:
                if isinstance(handler, CoalescingLineHandler):
                    handler.write_held()


def _sole_json_handler(logger: logging.Logger, level: int) -> CoalescingLineHandler | None:
    """The handler a record of `logger` would reach, when it is the only one and the service's own
    (configure_logging): no other handler, filter or formatter on the way. Else None."""
    node: logging.Logger | None = logger
    while node is not None and node.parent is not None:  # the root is the one without a parent
        if node.handlers or node.filters or not node.propagate:
            return None
        node = node.parent
    if node is None or node.filters or len(node.handlers) != 1:
        return None
    handler = node.handlers[0]
    if (type(handler) is not CoalescingLineHandler or handler.filters or level < handler.level
            or type(handler.formatter) is not JsonFormatter):
        return None
    return handler


def log_fields(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """`logger.log(level, message, extra=fields)`: the same JSON line, several times cheaper where it goes
    only to the service's own handler. The per-hit line is logged on every request: through `logging` it
    costs a LogRecord with ~25 attributes, a caller lookup and a formatter walking the record (13 us a line,
    ~60 us of CPU per hit measured under load, docs/benchmark.md). Anywhere else (a test's log capture, a
    handler added later) the line goes through `logging` as usual."""
    if not logger.isEnabledFor(level):
        return
    handler = _sole_json_handler(logger, level)
    if handler is None:
        logger.log(level, message, extra=fields)
        return
    try:
        line = json.dumps(_entry(logging.getLevelName(level), message, logger.name, fields), default=str) + "\n"
    except Exception:
        logger.log(level, message, extra=fields)  # what logging makes of a field json cannot take
        return
    handler.write_line(line)


def configure_logging(level: str = "INFO") -> None:
    """Route hookstream's and gunicorn's logs to stdout as JSON lines (called once per process)."""
    handler = CoalescingLineHandler(sys.stdout)
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
