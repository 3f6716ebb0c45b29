"""A sink that answers within the stream's answer budget whatever BigQuery does, and loses nothing.

Each row goes to BigQuery (the batching sink), except while BigQuery is failing
(service/runtime/warehouse_health.py): then it goes straight to the spool. A row BigQuery has not accepted
in time to be spooled within the answer budget is spooled while its write goes on (a hedge): the first of
"stored" and "spooled" answers the sender, exactly once. A write that fails for any reason spools the row
at once; a row BigQuery refuses as invalid is spooled too, and replay quarantines it for a person
(docs/spool.md), since the reason may be the table's (a changed schema) rather than the sender's.

WriteFailed (503) is the answer only when neither holds the row: the spool refused it and BigQuery did not
take it within its write deadline.

A write that succeeds after its row was spooled leaves the row in the table and its object in the spool;
replay finds the hit_id in the table and deletes the object without adding a second row (docs/spool.md,
"Exactly once").
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from service.model.schema import HitRow
from service.runtime.metrics import SpoolCounters
from service.runtime.sink import RunBlocking, SubmittingSink, Verdict, WriteFailed, WriteOutcome
from service.runtime.spool import SpoolFailed, SpoolLocation
from service.runtime.warehouse_health import WarehouseHealth

log = logging.getLogger("hookstream.spool")

SKIPPED_BIGQUERY = "BigQuery is failing; spooled without waiting for it"
# The budget is what the sender waits at most, so the spool upload starts this much before it runs out
# (a spool upload takes ~0.1-0.5 s, more on a busy instance: docs/spool.md).
SPOOL_ALLOWANCE_SECONDS = 0.5
MIN_HEDGE_SECONDS = 0.1
# Budgets are watched by one thread that wakes at most this often: an answer may be this much later.
BUDGET_TICK_SECONDS = 0.02


class Spool(Protocol):
    """`GcsSpool` is one: `put` returns once the row is durably spooled, or raises SpoolFailed."""

    location: SpoolLocation

    def put(self, row: HitRow) -> None: ...


class _Hedge:
    """One row's race between its BigQuery write and its answer budget: whichever keeps the row first
    answers, once. Its methods are called from the flusher (write_ended), the budget watcher (budget_spent)
    and a blocking thread (the spool upload); the lock makes the first answer the only one."""

    __slots__ = ("_answered", "_done", "_lock", "_run_blocking", "_sink", "_spool_failure", "_spooling",
                 "_write_failure", "_written", "deadline", "row")

    def __init__(self, sink: SpoolingSink, row: HitRow, done: Callable[[Verdict], None],
                 run_blocking: RunBlocking, deadline: float) -> None:
        self._sink = sink
        self.row: HitRow | None = row  # dropped once answered: the watcher may hold this object for a while
        self._done: Callable[[Verdict], None] | None = done
        self._run_blocking = run_blocking
        self.deadline = deadline
        self._lock = threading.Lock()
        self._answered = False
        self._spooling = False  # an upload started (it may have failed since: _spool_failure)
        self._written = False  # the write gave its verdict
        self._write_failure: WriteFailed | None = None
        self._spool_failure: WriteFailed | None = None

    def write_ended(self, verdict: Verdict) -> None:
        """The BigQuery write's verdict (on the flusher's thread: never blocks)."""
        answer: Verdict | None = None
        spool = False
        with self._lock:
            self._written = True
            if self._answered:
                if verdict == "stored":
                    self._sink.stored_after_spooling()
                return
            if not isinstance(verdict, WriteFailed):
                answer = verdict
            else:
                self._write_failure = verdict
                if self._spool_failure is not None:
                    answer = self._combined_failure_locked()  # the spool had refused it: nothing holds the row
                elif not self._spooling:
                    self._spooling = spool = True
            if answer is not None:
                self._answer_locked()
        if answer is not None:
            self._give(answer)
        elif spool:
            assert isinstance(verdict, WriteFailed)
            self._run_blocking(lambda: self.spool(verdict.detail))

    def budget_spent(self) -> None:
        """The answer budget passed without a verdict: spool the row, on a thread that may block."""
        if self._answered:
            return
        with self._lock:
            if self._answered or self._spooling:
                return
            self._spooling = True
        self._sink.budget_spent()
        self._run_blocking(lambda: self.spool(self._sink.budget_reason))

    def skip_write(self) -> None:
        """BigQuery is failing: the row goes to the spool without a write (on a thread that may block)."""
        with self._lock:
            self._written = True
            self._write_failure = WriteFailed(SKIPPED_BIGQUERY)
            self._spooling = True
        self._run_blocking(lambda: self.spool(SKIPPED_BIGQUERY))

    def spool(self, reason: str) -> None:
        row = self.row
        if row is None:
            return
        outcome = self._sink.spool_row(row, reason)
        with self._lock:
            if self._answered:
                if outcome == "spooled":  # the write answered "stored" while this upload ran: in both places
                    self._sink.stored_after_spooling()
                return
            if not isinstance(outcome, WriteFailed):
                answer: Verdict | None = outcome
            else:
                self._spool_failure = outcome
                # Nothing holds the row if the write failed too; otherwise its verdict answers.
                answer = self._combined_failure_locked() if self._written else None
            if answer is not None:
                self._answer_locked()
        if answer is not None:
            self._give(answer)

    def _combined_failure_locked(self) -> WriteFailed:
        write = self._write_failure or WriteFailed("the warehouse did not accept the write; retry later")
        return WriteFailed(f"{write.detail}; the spool did not take it either", write.retry_after_seconds)

    def _answer_locked(self) -> None:
        self._answered = True
        self.row = None

    def _give(self, verdict: Verdict) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(verdict)


class _BudgetWatcher:
    """Calls `budget_spent` on each hedge once its deadline passed, from one thread. Every hedge gets the
    same budget, so deadlines arrive in order and a queue is enough; the thread wakes at most every
    BUDGET_TICK_SECONDS, not once per hit."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._queue: deque[_Hedge] = deque()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, hedge: _Hedge) -> None:
        with self._changed:
            self._queue.append(hedge)
            if len(self._queue) == 1:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="hookstream-answer-budget", daemon=True)
                    self._thread.start()
                self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                wait = self._queue[0].deadline - self._clock()
                if wait > 0:
                    self._changed.wait(max(wait, BUDGET_TICK_SECONDS))
                    continue
                now = self._clock()
                due = []
                while self._queue and self._queue[0].deadline <= now:
                    due.append(self._queue.popleft())
            for hedge in due:
                hedge.budget_spent()


class SpoolingSink:
    def __init__(self, inner: SubmittingSink, spool: Spool, stream: str, *, answer_budget_seconds: float,
                 health: WarehouseHealth | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._inner = inner
        self._spool = spool
        self._stream = stream
        # When a row BigQuery has not accepted yet goes to the spool too.
        self._budget = max(MIN_HEDGE_SECONDS, answer_budget_seconds - SPOOL_ALLOWANCE_SECONDS)
        self.budget_reason = (f"BigQuery had not accepted the row {self._budget:g} s into the answer budget "
                              f"({answer_budget_seconds:g} s)")
        self._health = health
        self._clock = clock
        self._watcher = _BudgetWatcher(clock)
        self.spool_counters = SpoolCounters()

    def counters(self) -> dict[str, Any]:
        spool = self.spool_counters.snapshot()
        if self._health is not None:
            spool["bigquery_probes"] = self._health.probes
        return {**self._inner.counters(), "spool": spool}

    def submit(self, row: HitRow, done: Callable[[Verdict], None], run_blocking: RunBlocking) -> None:
        """As SubmittingSink: `done` gets "stored" or "spooled" within about the answer budget (plus the
        spool upload), or WriteFailed when neither BigQuery nor the spool holds the row."""
        hedge = _Hedge(self, row, done, run_blocking, self._clock() + self._budget)
        if self._health is not None and self._health.failing:
            hedge.skip_write()
            return
        try:
            self._inner.submit(row, hedge.write_ended, run_blocking)
        except WriteFailed as refused:  # refused before it was queued (shutting down): the spool takes it
            hedge.write_ended(refused)
            return
        self._watcher.watch(hedge)

    def write(self, row: HitRow) -> WriteOutcome:
        """As `submit`, holding the caller's thread; the spool upload, if any, runs on it too."""
        verdict: list[Verdict] = []
        given = threading.Event()

        def done(result: Verdict) -> None:
            verdict.append(result)
            given.set()

        def on_this_thread(job: Callable[[], None]) -> None:
            jobs.append(job)
            given.set()

        jobs: list[Callable[[], None]] = []
        hedge = _Hedge(self, row, done, on_this_thread, self._clock() + self._budget)
        if self._health is not None and self._health.failing:
            hedge.skip_write()
        else:
            try:
                self._inner.submit(row, hedge.write_ended, on_this_thread)
            except WriteFailed as refused:
                hedge.write_ended(refused)
        budget_left: float | None = self._budget
        while not verdict:
            if not given.wait(budget_left) and not jobs:
                hedge.budget_spent()  # queues the spool upload on this thread
                budget_left = None
                continue
            given.clear()
            while jobs:
                jobs.pop(0)()
        result = verdict[0]
        if isinstance(result, WriteFailed):
            raise result
        return result

    def spool_row(self, row: HitRow, reason: str) -> WriteOutcome | WriteFailed:
        """Put the row in the spool: "spooled", or the failure to answer if nothing else holds it."""
        try:
            self._spool.put(row)
        except SpoolFailed as spool_failure:
            self.spool_counters.record(spooled=False)
            log.error("hit not spooled", extra={"stream": self._stream, "hit_id": row["hit_id"],
                                                "write_error": reason, "spool_error": spool_failure.detail})
            return WriteFailed(f"{reason}; the spool did not take it either")
        self.spool_counters.record(spooled=True)
        log.warning("hit spooled", extra={"stream": self._stream, "hit_id": row["hit_id"], "write_error": reason,
                                          "spool": self._spool.location.url})
        return "spooled"

    def budget_spent(self) -> None:
        if self._health is not None:
            self._health.write_outlasted_budget()

    def stored_after_spooling(self) -> None:
        # The row is in the table and in the spool: replay will find it stored and only delete the object.
        self.spool_counters.record_stored_after_spooling()

    def close(self) -> None:
        self._inner.close()  # the rows still queued get their verdicts (and answers) here
        self._watcher.close()
        if self._health is not None:
            self._health.close()
