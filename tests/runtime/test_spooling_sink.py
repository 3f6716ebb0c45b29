"""When the spooling sink answers, and from where: BigQuery's verdict, or the spool once the answer budget passed.

The sink's decisions are the point here, so BigQuery and the spool are small stand-ins the test controls (a
write's verdict comes when the test gives it); the same sink against the real emulators and gunicorn is
tests/runtime/test_spool_faults.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from service.model.schema import HitRow
from service.runtime.sink import RunBlocking, Verdict, WriteFailed, WriteOutcome
from service.runtime.spool import SpoolFailed, SpoolLocation
from service.runtime.spooling_sink import SpoolingSink
from service.runtime.warehouse_health import WarehouseHealth

BUDGET = 0.8
# When a row not accepted yet goes to the spool too: the budget less half a second for the upload.
HEDGE = 0.3


class HeldWarehouse:
    """A BigQuery whose verdicts the test gives, when it wants."""

    def __init__(self) -> None:
        self.submitted: dict[str, Callable[[Verdict], None]] = {}
        self.refuse_with: WriteFailed | None = None

    def submit(self, row: HitRow, done: Callable[[Verdict], None], run_blocking: RunBlocking) -> None:
        if self.refuse_with is not None:
            raise self.refuse_with
        self.submitted[row["hit_id"]] = done

    def give(self, hit_id: str, verdict: Verdict) -> None:
        self.submitted[hit_id](verdict)

    def write(self, row: HitRow) -> WriteOutcome:
        raise AssertionError("the spooling sink submits; it never blocks on the inner write")

    def counters(self) -> dict[str, Any]:
        return {"sink": {"write_calls": 0}}

    def close(self) -> None:
        pass


class RecordingSpool:
    location = SpoolLocation.parse("gs://bucket/spool/s/")

    def __init__(self) -> None:
        self.rows: list[str] = []
        self.down = False

    def put(self, row: HitRow) -> None:
        if self.down:
            raise SpoolFailed("the spool did not accept the hit")
        self.rows.append(row["hit_id"])


class Answers:
    """What the sender was told, and when (seconds after submitting)."""

    def __init__(self) -> None:
        self.given: list[tuple[Verdict, float]] = []
        self.arrived = threading.Event()
        self.started = time.monotonic()

    def __call__(self, verdict: Verdict) -> None:
        self.given.append((verdict, time.monotonic() - self.started))
        self.arrived.set()

    def wait(self, seconds: float = 5.0) -> Verdict:
        assert self.arrived.wait(seconds), "the sender got no answer"
        return self.given[0][0]


def on_a_thread(job: Callable[[], None]) -> None:
    threading.Thread(target=job).start()


def row(hit_id: str) -> HitRow:
    return HitRow(hit_id=hit_id, payload="orderId=N1", received_at=0, date="2026-11-29", delivery_id=None,
                  headers=None)


def make(health: WarehouseHealth | None = None) -> tuple[SpoolingSink, HeldWarehouse, RecordingSpool]:
    warehouse, spool = HeldWarehouse(), RecordingSpool()
    return SpoolingSink(warehouse, spool, "s", answer_budget_seconds=BUDGET, health=health), warehouse, spool


def test_a_row_bigquery_stores_within_the_budget_is_answered_stored_and_not_spooled() -> None:
    sink, warehouse, spool = make()
    answers = Answers()
    sink.submit(row("a"), answers, on_a_thread)
    warehouse.give("a", "stored")
    assert answers.wait() == "stored"
    time.sleep(BUDGET * 2)  # the budget passing later changes nothing
    assert [verdict for verdict, _ in answers.given] == ["stored"]
    assert spool.rows == []


def test_a_write_still_running_at_the_budget_is_spooled_and_answered_once_even_when_it_succeeds_later() -> None:
    sink, warehouse, spool = make()
    answers = Answers()
    sink.submit(row("a"), answers, on_a_thread)
    assert answers.wait() == "spooled"
    assert HEDGE <= answers.given[0][1] <= BUDGET
    assert spool.rows == ["a"]
    warehouse.give("a", "stored")  # the late write lands: the row is in the table and in the spool
    assert [verdict for verdict, _ in answers.given] == ["spooled"]
    assert sink.counters()["spool"]["stored_after_spooling"] == 1


def test_a_failed_write_is_spooled_at_once_without_waiting_for_the_budget() -> None:
    sink, warehouse, spool = make()
    answers = Answers()
    sink.submit(row("a"), answers, on_a_thread)
    warehouse.give("a", WriteFailed("the warehouse did not accept the write; retry later"))
    assert answers.wait() == "spooled"
    assert answers.given[0][1] < HEDGE
    assert spool.rows == ["a"]


def test_a_row_bigquery_refuses_as_invalid_is_kept_in_the_spool_for_the_replay_to_quarantine() -> None:
    sink, warehouse, spool = make()
    answers = Answers()
    sink.submit(row("a"), answers, on_a_thread)
    warehouse.give("a", WriteFailed("BigQuery rejected the row: invalid: no such field", row_at_fault=True))
    assert answers.wait() == "spooled"
    assert spool.rows == ["a"]


def test_when_the_spool_refuses_at_the_budget_the_writes_own_verdict_answers() -> None:
    sink, warehouse, spool = make()
    spool.down = True
    answers = Answers()
    sink.submit(row("a"), answers, on_a_thread)
    time.sleep(BUDGET)
    assert answers.given == [], "the spool failed, but the write may still store the row: wait for it"
    warehouse.give("a", "stored")
    assert answers.wait() == "stored"
    assert len(answers.given) == 1


def test_when_neither_bigquery_nor_the_spool_holds_the_row_the_sender_is_told_to_retry() -> None:
    sink, warehouse, spool = make()
    spool.down = True
    answers = Answers()
    sink.submit(row("a"), answers, on_a_thread)
    warehouse.give("a", WriteFailed("the warehouse did not accept the write; retry later", retry_after_seconds=5))
    failure = answers.wait()
    assert isinstance(failure, WriteFailed)
    assert failure.detail == "the warehouse did not accept the write; retry later; the spool did not take it either"
    assert failure.retry_after_seconds == 5
    assert sink.counters()["spool"]["spool_failed"] == 1


def test_a_row_refused_before_it_was_queued_goes_to_the_spool() -> None:
    sink, warehouse, spool = make()
    warehouse.refuse_with = WriteFailed("this instance is shutting down; retry", retry_after_seconds=1)
    answers = Answers()
    sink.submit(row("a"), answers, on_a_thread)
    assert answers.wait() == "spooled"
    assert spool.rows == ["a"]


def test_a_blocking_write_during_a_stall_returns_within_the_budget() -> None:
    sink, _warehouse, spool = make()
    started = time.monotonic()
    assert sink.write(row("a")) == "spooled"  # the warehouse never answers
    assert HEDGE <= time.monotonic() - started <= BUDGET
    assert spool.rows == ["a"]


def test_a_blocking_write_gets_the_stored_verdict_when_bigquery_answers_in_time() -> None:
    sink, warehouse, spool = make()
    threading.Timer(0.02, lambda: warehouse.give("a", "stored")).start()
    assert sink.write(row("a")) == "stored"
    assert spool.rows == []


def test_while_bigquery_fails_no_senders_hit_is_the_probe() -> None:
    probes: list[float] = []
    reachable = threading.Event()

    def probe(timeout: float) -> None:
        probes.append(timeout)
        if not reachable.is_set():
            raise ConnectionRefusedError("bigquery is down")

    health = WarehouseHealth(probe, first_interval_seconds=0.05, max_interval_seconds=0.1)
    sink, warehouse, spool = make(health)
    health.attempt_failed()  # what the writer reports when an attempt of the write in flight fails
    for hit_id in ("a", "b", "c"):
        answers = Answers()
        sink.submit(row(hit_id), answers, on_a_thread)
        assert answers.wait() == "spooled"
        assert answers.given[0][1] < HEDGE, "a hit during an outage goes straight to the spool"
    assert warehouse.submitted == {}, "no hit was sent to BigQuery while it was failing"
    deadline = time.monotonic() + 5
    while len(probes) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(probes) >= 2, "the background probe keeps trying"
    reachable.set()
    while health.failing and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not health.failing, "the probe that got through ends the outage"
    answers = Answers()
    sink.submit(row("d"), answers, on_a_thread)
    warehouse.give("d", "stored")
    assert answers.wait() == "stored"
    assert spool.rows == ["a", "b", "c"]
    sink.close()


@pytest.mark.parametrize("succeeded", [True, False])
def test_a_write_attempt_that_gets_through_ends_the_outage_too(succeeded: bool) -> None:
    health = WarehouseHealth(lambda timeout: (_ for _ in ()).throw(OSError("down")), first_interval_seconds=10)
    health.attempt_failed()
    if succeeded:
        health.attempt_succeeded()
    assert health.failing is not succeeded
    health.close()


def test_a_write_outlasting_the_budget_sends_the_next_hits_straight_to_the_spool() -> None:
    health = WarehouseHealth(lambda timeout: (_ for _ in ()).throw(TimeoutError("frozen")),
                             first_interval_seconds=10)
    sink, warehouse, _spool = make(health)
    first = Answers()
    sink.submit(row("a"), first, on_a_thread)
    assert first.wait() == "spooled"  # BigQuery froze: it never answered within the budget
    second = Answers()
    sink.submit(row("b"), second, on_a_thread)
    assert second.wait() == "spooled"
    assert second.given[0][1] < HEDGE / 2, "the next hit did not wait for the budget again"
    assert list(warehouse.submitted) == ["a"], "the next hit was not sent into the frozen BigQuery"
    warehouse.give("a", "stored")  # the frozen write lands at last...
    health.attempt_succeeded()  # ...and the writer says so (what BigQueryRowWriter does on success)
    third = Answers()
    sink.submit(row("c"), third, on_a_thread)
    warehouse.give("c", "stored")
    assert third.wait() == "stored"
    sink.close()
