"""Counters a person can read to check "received vs. written" for one stream.

Two views of the same numbers: `GET /metrics` (JSON, for this worker process only: each gunicorn
worker counts for itself, so sum the workers' answers) and log lines Cloud Logging can chart: one per
BigQuery write (service/runtime/batching.py) and one "stream counters" line at most every minute, emitted on a
request (Cloud Run throttles the CPU between requests, so a background timer may never run).
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify

log = logging.getLogger("hookstream.metrics")

LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
BATCH_ROW_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
SUMMARY_INTERVAL_SECONDS = 60.0


class Histogram:
    """Counts per bucket (upper bounds) plus count, sum and max; quantiles are bucket upper bounds."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last one counts values above every bound
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self.count += 1
        self.total += value
        self.max = max(self.max, value)

    def quantile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        for index, bucket_count in enumerate(self._counts):
            seen += bucket_count
            if seen >= rank and bucket_count:
                return self._bounds[index] if index < len(self._bounds) else self.max
        return self.max

    def snapshot(self) -> dict[str, Any]:
        labels = [f"le_{bound:g}" for bound in self._bounds] + ["above"]
        return {
            "count": self.count,
            "sum": round(self.total, 3),
            "mean": round(self.total / self.count, 3) if self.count else None,
            "max": round(self.max, 3),
            "p50_at_most": self.quantile(0.5),
            "p99_at_most": self.quantile(0.99),
            "buckets": {label: n for label, n in zip(labels, self._counts, strict=True) if n},
        }


class HitCounters:
    """What the endpoint saw: hits received, written (2xx), rejected (4xx) and not stored (5xx)."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self.received = 0
        self.written = 0
        self.handshakes = 0  # answered handshakes (Keap, monday): 2xx, but never rows
        self.rejected: Counter[str] = Counter()
        self.write_errors: Counter[str] = Counter()
        self.latency_ms = Histogram(LATENCY_BUCKETS_MS)

    def record(self, status: int, reason: str | None, latency_ms: float, handshake: bool = False) -> None:
        with self._lock:
            self.received += 1
            if handshake:
                self.handshakes += 1
            elif 200 <= status < 300:
                self.written += 1
            elif status >= 500:
                self.write_errors[reason or str(status)] += 1
            else:
                self.rejected[reason or str(status)] += 1
            self.latency_ms.observe(latency_ms)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "received": self.received,
                "written": self.written,
                "handshakes": self.handshakes,
                "rejected": dict(self.rejected),
                "write_errors": dict(self.write_errors),
                "latency_ms": self.latency_ms.snapshot(),
            }


class SinkCounters:
    """What the batching sink did: BigQuery write calls, rows per call, retries, failures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.write_calls = 0
        self.rows_written = 0
        self.row_retries = 0
        self.rows_failed: Counter[str] = Counter()
        self.batch_rows = Histogram(BATCH_ROW_BUCKETS)
        self.write_ms = Histogram(LATENCY_BUCKETS_MS)

    def record_call(self, rows: int, written: int, elapsed_ms: float) -> None:
        with self._lock:
            self.write_calls += 1
            self.rows_written += written
            self.batch_rows.observe(rows)
            self.write_ms.observe(elapsed_ms)

    def record_retry(self, rows: int) -> None:
        with self._lock:
            self.row_retries += rows

    def record_failed(self, kind: str, rows: int) -> None:
        with self._lock:
            self.rows_failed[kind] += rows

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "write_calls": self.write_calls,
                "rows_written": self.rows_written,
                "row_retries": self.row_retries,
                "rows_failed": dict(self.rows_failed),
                "batch_rows": self.batch_rows.snapshot(),
                "write_ms": self.write_ms.snapshot(),
            }


class SpoolCounters:
    """Hits the spool took when BigQuery did not (answered 2xx "spooled"), hits it refused too (503), and
    spooled hits whose BigQuery write succeeded later (replay deletes their objects without a second row)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spooled = 0
        self.spool_failed = 0
        self.stored_after_spooling = 0

    def record_stored_after_spooling(self) -> None:
        with self._lock:
            self.stored_after_spooling += 1

    def record(self, spooled: bool) -> None:
        with self._lock:
            if spooled:
                self.spooled += 1
            else:
                self.spool_failed += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"spooled": self.spooled, "spool_failed": self.spool_failed,
                    "stored_after_spooling": self.stored_after_spooling}


class StreamMetrics:
    """One stream's counters in one worker: the hits (recorded by service/runtime/outcome.py) and whatever the
    sink counts. Serves them at `GET /metrics` where asked to, and logs them as one "stream counters" line
    at most every SUMMARY_INTERVAL_SECONDS, on a hit (no timer: Cloud Run throttles idle CPU)."""

    def __init__(self, stream: str, sink_counters: Callable[[], dict[str, Any]]) -> None:
        self.stream = stream
        self.hits = HitCounters(stream)
        self._sink_counters = sink_counters
        self._started_at = time.time()
        self._pid = os.getpid()  # the app is built inside the worker (no preload), so this is the worker's pid
        self._next_summary = time.monotonic() + SUMMARY_INTERVAL_SECONDS
        self._summary_lock = threading.Lock()

    def snapshot(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "scope": "this gunicorn worker process only; sum the answers of every worker (see pid)",
            "pid": self._pid,
            "started_at": round(self._started_at, 3),
            "hits": self.hits.snapshot(),
            **self._sink_counters(),
        }

    def record(self, status: int, reason: str | None, latency_ms: float, handshake: bool = False) -> None:
        """Count one answered hit request (any thread: a parked hit is counted when it is answered)."""
        self.hits.record(status, reason if status >= 400 else None, latency_ms, handshake=handshake)
        now = time.monotonic()
        if now >= self._next_summary and self._summary_lock.acquire(blocking=False):
            try:
                self._next_summary = now + SUMMARY_INTERVAL_SECONDS
                log.info("stream counters", extra={"stream": self.stream, "counters": self.snapshot()})
            finally:
                self._summary_lock.release()

    def serve(self, app: Flask) -> None:
        @app.get("/metrics", provide_automatic_options=False)
        def metrics() -> Response:
            return jsonify(self.snapshot())
