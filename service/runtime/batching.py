"""Group commit: the hits that arrive together in one process go to BigQuery in one insertAll.

Each `write(row)` queues its row and waits for the result of the call that carries it (`submit(row, done, ...)`
queues it and returns: `done` gets the result, so a parked request holds no thread meanwhile); nothing is
flushed after a response (Cloud Run throttles the CPU between requests). Flusher threads (started on
the first write, never at import) take what is queued:
- when no write is in flight, at once: a lone hit waits for one BigQuery call, no more;
- otherwise the rows gather while the running call lasts, so under load one call carries many
  hits; with `max_in_flight` > 1 a further call starts once the oldest row waited `max_wait_seconds`
  (or the batch is full).
Batches stay under insertAll's limits (`max_rows`, `max_bytes`). Per-row errors go back to exactly
the caller of that row; rows BigQuery did not try ("stopped": another row of the request was invalid)
or failed transiently are re-sent together, without the rows that were stored or refused, by the retry
rule (service/runtime/retry.py), while their deadline allows.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from service.model.schema import HitRow
from service.model.stream import MAX_INSERT_REQUEST_BYTES
from service.runtime.insert_all_body import EncodedRow, encode_row
from service.runtime.logs import held_lines
from service.runtime.metrics import SinkCounters
from service.runtime.retry import DEFAULT_RULE, RetryRule
from service.runtime.sink import RowRejection, RunBlocking, Verdict, WriteFailed, WriteOutcome

log = logging.getLogger("hookstream.batching")

# insertAll accepts up to 10 MB and 50,000 rows per request. The byte cap leaves room for the request's
# own wrapper; every body a stream may accept fits in it after JSON escaping (service/model/stream.py checks
# max_body_bytes against it), so no hit can be refused for its size after it was accepted.
DEFAULT_MAX_ROWS = 500
DEFAULT_MAX_BYTES = MAX_INSERT_REQUEST_BYTES
DEFAULT_MAX_WAIT_SECONDS = 0.005
# One call in flight per process: measured with scripts/bench, a second concurrent call halved the rows
# per call and doubled the write calls (and the emulator's CPU, ~50 ms per call) for no throughput gain.
# Against real BigQuery, where a call waits on the network rather than a CPU, 2 may lower latency.
DEFAULT_MAX_IN_FLIGHT = 1
class RowWriter(Protocol):
    """`BigQueryRowWriter` is one: one insertAll per call, per row None (stored) or the reason it was not."""

    def insert_rows(self, rows: Sequence[HitRow], timeout_seconds: float | None = None,
                    encoded: Sequence[EncodedRow] | None = None) -> list[RowRejection | None]:
        """`encoded`, when given, is `rows` as insert_all_body.encode_row made them (one encoding per hit)."""

    def close(self) -> None: ...


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(eq=False)
class _Pending:
    row: HitRow
    encoded: EncodedRow
    size: int
    queued_at: float
    deadline: float
    failure: WriteFailed | None = None
    # A submitted row's caller: told the verdict instead of woken (then no lock is held).
    done: Callable[[Verdict], None] | None = None
    # Held until the verdict is given: the caller blocks acquiring it, the flusher releases it. A bare lock
    # wakes the caller as an Event would, at a tenth of the cost (an Event is a Condition around a lock, and
    # each wait allocates another), once per hit.
    _verdict: threading.Lock | None = None
    _given: bool = False  # only the flusher that carries the row reads or sets it

    def finish(self, failure: WriteFailed | None = None) -> bool:
        """Give the caller its verdict; only the first one counts (a stored row stays stored even if the
        flusher crashes later in the same batch). False when the row already had one."""
        if self._given:
            return False
        self._given = True
        self.failure = failure
        if self.done is not None:
            try:
                self.done("stored" if failure is None else failure)
            except Exception:  # the caller's own bug: never let it stop the verdicts of the rest of the batch
                log.exception("answering a submitted hit failed", extra={"hit_id": self.row["hit_id"]})
        elif self._verdict is not None:
            self._verdict.release()
        return True

    def wait(self) -> None:
        assert self._verdict is not None, "only a row queued by write() is waited for"
        self._verdict.acquire()


class BatchingSink:
    """A `Sink` that writes concurrent rows together through a `RowWriter`."""

    def __init__(self, writer: RowWriter, deadline_seconds: float, *, stream: str = "",
                 max_rows: int = DEFAULT_MAX_ROWS, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                 retry: RetryRule = DEFAULT_RULE) -> None:
        if max_rows < 1 or max_bytes < 1 or max_in_flight < 1 or deadline_seconds <= 0:
            raise ValueError("max_rows, max_bytes, max_in_flight and deadline_seconds must be positive")
        self._writer = writer
        self._deadline_seconds = deadline_seconds
        self._stream = stream
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self._max_wait = max_wait_seconds
        self._max_in_flight = max_in_flight
        self._retry = retry
        self._clock = retry.clock
        self.sink_counters = SinkCounters()
        self._queue: deque[_Pending] = deque()
        self._queued_bytes = 0
        self._in_flight = 0
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._changed = threading.Condition()

    # -- the Sink protocol -------------------------------------------------------------------------

    def write(self, row: HitRow) -> WriteOutcome:
        pending = self._queue_row(row, None)
        # No timeout here: a 503 tells the sender the row was not stored, so the caller waits for the real
        # end of the write that carries its row. The writer bounds each call by the rows' deadline
        # (service/runtime/sink.py), so this wait ends about then; giving up earlier could answer 503 for a row
        # that is stored a moment later, and the sender's retry would become a duplicate.
        pending.wait()
        if pending.failure is not None:
            raise pending.failure
        return "stored"

    def submit(self, row: HitRow, done: Callable[[Verdict], None], run_blocking: RunBlocking) -> None:
        """Queue the row and return: `done` gets its verdict from the flusher's thread (see SubmittingSink).
        The caller's thread is free meanwhile: under load the request threads no longer each block and
        wake once per hit (docs/benchmark.md)."""
        self._queue_row(row, done)

    def counters(self) -> dict[str, Any]:
        return {"sink": self.sink_counters.snapshot()}

    def _queue_row(self, row: HitRow, done: Callable[[Verdict], None] | None) -> _Pending:
        now = self._clock()
        encoded, size = encode_row(row)
        pending = _Pending(row, encoded, size, now, now + self._deadline_seconds, done=done,
                           _verdict=_held_lock() if done is None else None)
        if pending.size > self._max_bytes:
            raise WriteFailed("the hit is larger than one BigQuery request may carry", row_at_fault=True)
        with self._changed:
            if self._closing:
                raise WriteFailed("this instance is shutting down; retry", retry_after_seconds=1)
            self._start_flushers_locked()
            self._queue.append(pending)
            self._queued_bytes += pending.size
            self._changed.notify_all()
        return pending

    def close(self) -> None:
        """Write what is queued (within its deadlines), stop the flushers, then close the writer."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(self._deadline_seconds + 2.0)
        self._writer.close()

    # -- the flushers ------------------------------------------------------------------------------

    def _start_flushers_locked(self) -> None:
        if self._threads:
            return
        for number in range(self._max_in_flight):
            thread = threading.Thread(target=self._flush_loop, name=f"hookstream-flusher-{number}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _flush_loop(self) -> None:
        while True:
            with self._changed:
                batch = self._next_batch_locked()
                if batch is None:
                    return
                self._in_flight += 1
            try:
                # The batch's parked hits are answered from here, each logging a line: one write for them all.
                with held_lines():
                    self._write_batch(batch)
            except Exception as error:  # never leave a caller waiting on a flusher that died
                log.exception("batch write crashed", extra={"stream": self._stream, "rows": len(batch)})
                crashed = WriteFailed(f"internal error while writing ({type(error).__name__})")
                self._fail(batch, "crash", crashed)
            finally:
                with self._changed:
                    self._in_flight -= 1
                    self._changed.notify_all()

    def _next_batch_locked(self) -> list[_Pending] | None:
        """Wait until a batch should go; None once closing and nothing is left."""
        while True:
            if not self._queue:
                if self._closing:
                    return None
                self._changed.wait()
                continue
            full = len(self._queue) >= self._max_rows or self._queued_bytes >= self._max_bytes
            if self._in_flight == 0 or full or self._closing:
                break
            # Another call is running: let more rows join this one, but only briefly.
            wait = self._queue[0].queued_at + self._max_wait - self._clock()
            if wait <= 0:
                break
            self._changed.wait(wait)
        batch: list[_Pending] = []
        size = 0
        while self._queue and len(batch) < self._max_rows and size + self._queue[0].size <= self._max_bytes:
            pending = self._queue.popleft()
            size += pending.size
            batch.append(pending)
        self._queued_bytes -= size
        return batch

    def _write_batch(self, batch: list[_Pending]) -> None:
        """One insertAll for the batch; the rows BigQuery did not try ("stopped" by an invalid one) or failed
        transiently go again together, by the retry rule, each while its own deadline allows."""
        todo = batch
        for _attempt in self._retry.attempts(max(p.deadline for p in batch)):
            todo = self._unexpired(todo)
            if not todo:
                return
            remaining = min(p.deadline for p in todo) - self._clock()
            started = self._clock()
            try:
                reasons = self._writer.insert_rows([p.row for p in todo], timeout_seconds=remaining,
                                                   encoded=[p.encoded for p in todo])
            except WriteFailed as failed:
                self._record_call(todo, 0, started, failed=len(todo), error=failed.detail)
                self._fail(todo, "write_failed", failed)
                return
            if len(reasons) != len(todo):
                raise RuntimeError(f"writer answered {len(reasons)} results for {len(todo)} rows")
            again: list[_Pending] = []
            written = 0
            for pending, reason in zip(todo, reasons, strict=True):
                if reason is None:
                    written += 1
                    pending.finish()
                elif reason.transient:
                    again.append(pending)
                else:
                    self.sink_counters.record_failed("rejected", 1)
                    pending.finish(WriteFailed(f"BigQuery rejected the row: {reason}", row_at_fault=True))
            self._record_call(todo, written, started, failed=len(todo) - written - len(again))
            if not again:
                return
            self.sink_counters.record_retry(len(again))
            todo = again
        self._fail(todo, "deadline", WriteFailed("the warehouse did not accept the write in time; retry later"))

    def _unexpired(self, rows: list[_Pending]) -> list[_Pending]:
        """The rows whose deadline has not passed; the others are failed now."""
        now = self._clock()
        expired = [p for p in rows if p.deadline <= now]
        if not expired:
            return rows
        self._fail(expired, "deadline", WriteFailed("the warehouse did not accept the write in time; retry later"))
        return [p for p in rows if p.deadline > now]

    def _record_call(self, rows: list[_Pending], written: int, started: float, failed: int,
                     error: str | None = None) -> None:
        elapsed_ms = (self._clock() - started) * 1000
        self.sink_counters.record_call(len(rows), written, elapsed_ms)
        # One line per BigQuery call: Cloud Logging can chart rows per call and call latency from it.
        log.info("batch written" if error is None else "batch failed", extra={
            "stream": self._stream, "rows": len(rows), "written": written, "failed": failed,
            "bytes": sum(p.size for p in rows), "write_ms": round(elapsed_ms, 2),
            "oldest_wait_ms": round((started - min(p.queued_at for p in rows)) * 1000, 2),
            **({"reason": error} if error else {}),
        })

    def _fail(self, rows: list[_Pending], kind: str, failure: WriteFailed) -> None:
        # Rows that already have a verdict (stored earlier in this batch) keep it and are not counted again.
        failed = sum(pending.finish(failure) for pending in rows)
        if failed:
            self.sink_counters.record_failed(kind, failed)
