"""A sink that falls back to the spool when BigQuery cannot take a row for reasons that are not the row's.

`write` answers "stored" (BigQuery accepted the row) or "spooled" (BigQuery did not, but the row's
object is in Cloud Storage, and replay will write it); it raises WriteFailed only when neither holds
the row, so the sender's 503 still means "nothing was stored, send it again".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from service.model.schema import HitRow
from service.runtime.metrics import SpoolCounters
from service.runtime.sink import (
    RunBlocking,
    Sink,
    SubmittingSink,
    Verdict,
    WarehouseHealth,
    WriteFailed,
    WriteOutcome,
)
from service.runtime.spool import SpoolFailed, SpoolLocation

log = logging.getLogger("hookstream.spool")


class Spool(Protocol):
    """`GcsSpool` is one: `put` returns once the row is durably spooled, or raises SpoolFailed."""

    location: SpoolLocation

    def put(self, row: HitRow) -> None: ...


# After BigQuery failed a write for a reason not the row's, hits go straight to the spool for this long
# while one hit at a time keeps trying BigQuery (and ends this as soon as it gets through); the same while
# the writer sees its attempts fail (WarehouseHealth), before the write in flight reaches its deadline.
# During an outage a hit is then answered in the time of a spool upload instead of the whole write
# deadline, and the instance's threads stay free for the hits that keep coming.
SPOOL_FIRST_SECONDS = 10.0
SKIPPED_BIGQUERY = "BigQuery failed recently; spooled without waiting for it"


class SpoolingSink:
    def __init__(self, inner: Sink, spool: Spool, stream: str,
                 clock: Callable[[], float] = time.monotonic, health: WarehouseHealth | None = None) -> None:
        self._inner = inner
        # Whether rows can be submitted without holding the caller's thread, decided once, here.
        self._inner_submit = inner.submit if isinstance(inner, SubmittingSink) else None
        self._health = health
        self._spool = spool
        self._stream = stream
        self._clock = clock
        self._spool_first_until = 0.0
        self._probe = threading.Lock()  # held by the one hit that tries BigQuery while spooling first
        self.spool_counters = SpoolCounters()

    @property
    def counters(self) -> Any:
        # The inner sink's BigQuery counters stay where service/runtime/metrics.py looks for them.
        return getattr(self._inner, "counters", None)

    def write(self, row: HitRow) -> WriteOutcome:
        probing = False
        failing = self._health is not None and self._health.failing  # the write in flight is failing now
        if failing or self._clock() < self._spool_first_until:
            probing = self._probe.acquire(blocking=False)
            if not probing:
                return self._spool_row(row, WriteFailed(SKIPPED_BIGQUERY))
        try:
            outcome = self._inner.write(row)
            self._spool_first_until = 0.0
            return outcome
        except WriteFailed as failed:
            if failed.row_at_fault:
                raise
            self._spool_first_until = self._clock() + SPOOL_FIRST_SECONDS
            return self._spool_row(row, failed)
        finally:
            if probing:
                self._probe.release()

    def submit(self, row: HitRow, done: Callable[[Verdict], None], run_blocking: RunBlocking) -> bool:
        """As `write`, without holding the caller's thread (SubmittingSink): False while hits go straight to
        the spool (write() then spools at once, or probes BigQuery); a failed write is spooled by a job
        given to `run_blocking`, since an upload may take seconds."""
        failing = self._health is not None and self._health.failing
        if self._inner_submit is None or failing or self._clock() < self._spool_first_until:
            return False

        def after_write(verdict: Verdict) -> None:
            if not isinstance(verdict, WriteFailed):
                self._spool_first_until = 0.0
                done(verdict)
            elif verdict.row_at_fault:
                done(verdict)
            else:
                self._spool_first_until = self._clock() + SPOOL_FIRST_SECONDS
                run_blocking(lambda: done(self._spooled_or_failure(row, verdict)))

        return self._inner_submit(row, after_write, run_blocking)

    def _spooled_or_failure(self, row: HitRow, write_failure: WriteFailed) -> Verdict:
        try:
            return self._spool_row(row, write_failure)
        except WriteFailed as failed:
            return failed

    def _spool_row(self, row: HitRow, write_failure: WriteFailed) -> WriteOutcome:
        try:
            self._spool.put(row)
        except SpoolFailed as spool_failure:
            self.spool_counters.record(spooled=False)
            log.error("hit not spooled", extra={"stream": self._stream, "hit_id": row["hit_id"],
                                                "write_error": write_failure.detail,
                                                "spool_error": spool_failure.detail})
            raise WriteFailed(f"{write_failure.detail}; the spool did not take it either",
                              write_failure.retry_after_seconds) from spool_failure
        self.spool_counters.record(spooled=True)
        log.warning("hit spooled", extra={"stream": self._stream, "hit_id": row["hit_id"],
                                          "write_error": write_failure.detail,
                                          "spool": self._spool.location.url})
        return "spooled"

    def close(self) -> None:
        self._inner.close()
