"""A sink that falls back to the spool when BigQuery cannot take a row for reasons that are not the row's.

`write` answers "stored" (BigQuery accepted the row) or "spooled" (BigQuery did not, but the row's
object is in Cloud Storage, and replay will write it); it raises WriteFailed only when neither holds
the row, so the sender's 503 still means "nothing was stored, send it again".
"""

from __future__ import annotations

import logging
from typing import Any

from service.runtime.metrics import SpoolCounters
from service.runtime.rows import HitRow
from service.runtime.sink import Sink, WriteFailed, WriteOutcome
from service.runtime.spool import GcsSpool, SpoolFailed

log = logging.getLogger("hookstream.spool")


class SpoolingSink:
    def __init__(self, inner: Sink, spool: GcsSpool, stream: str) -> None:
        self._inner = inner
        self._spool = spool
        self._stream = stream
        self.spool_counters = SpoolCounters()

    @property
    def counters(self) -> Any:
        # The inner sink's BigQuery counters stay where service/runtime/metrics.py looks for them.
        return getattr(self._inner, "counters", None)

    def write(self, row: HitRow) -> WriteOutcome:
        try:
            return self._inner.write(row)
        except WriteFailed as failed:
            if failed.row_at_fault:
                raise
            write_failure = failed
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
