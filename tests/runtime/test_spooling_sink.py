"""When the spooling sink asks BigQuery, and when it goes straight to the spool.

The sink's decisions are the point here, so BigQuery and the spool are small recording stand-ins; the
same sink against the real emulators and gunicorn is tests/runtime/test_spool_faults.py.
"""

from __future__ import annotations

import pytest

from service.model.schema import HitRow
from service.runtime.sink import WarehouseHealth, WriteFailed, WriteOutcome
from service.runtime.spool import SpoolFailed, SpoolLocation
from service.runtime.spooling_sink import SpoolingSink


class Warehouse:
    def __init__(self) -> None:
        self.calls = 0
        self.failure: WriteFailed | None = None

    def write(self, row: HitRow) -> WriteOutcome:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return "stored"

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


def row(hit_id: str) -> HitRow:
    return HitRow(hit_id=hit_id, payload="orderId=N1", received_at=0, date="2026-11-29", delivery_id=None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(health: WarehouseHealth | None = None) -> tuple[SpoolingSink, Warehouse, RecordingSpool, Clock]:
    warehouse, spool, clock = Warehouse(), RecordingSpool(), Clock()
    return SpoolingSink(warehouse, spool, "s", clock=clock, health=health), warehouse, spool, clock


def test_a_warehouse_failure_spools_and_the_next_hits_skip_the_warehouse_for_ten_seconds() -> None:
    sink, warehouse, spool, clock = make()
    assert sink.write(row("a")) == "stored"
    warehouse.failure = WriteFailed("the warehouse did not accept the write in time; retry later")
    assert sink.write(row("b")) == "spooled"
    assert warehouse.calls == 2
    clock.now += 9.9
    # While the spool goes first, a lone hit still probes BigQuery (no other probe is running)...
    assert sink.write(row("c")) == "spooled"
    assert warehouse.calls == 3
    warehouse.failure = None
    # ...and the first probe that gets through ends it.
    assert sink.write(row("d")) == "stored"
    assert sink.write(row("e")) == "stored"
    assert spool.rows == ["b", "c"]
    assert sink.spool_counters.snapshot() == {"spooled": 2, "spool_failed": 0}


def test_while_a_probe_runs_other_hits_go_straight_to_the_spool() -> None:
    sink, warehouse, spool, _ = make()
    warehouse.failure = WriteFailed("permission denied")
    assert sink.write(row("a")) == "spooled"
    with sink._probe:  # another request is trying BigQuery right now
        assert sink.write(row("b")) == "spooled"
    assert warehouse.calls == 1
    assert spool.rows == ["a", "b"]


def test_a_row_bigquery_rejects_is_not_spooled() -> None:
    sink, warehouse, spool, _ = make()
    warehouse.failure = WriteFailed("BigQuery rejected the row: invalid", row_at_fault=True)
    with pytest.raises(WriteFailed, match="rejected the row"):
        sink.write(row("a"))
    assert spool.rows == []


def test_when_the_spool_fails_too_the_sender_is_told_to_retry() -> None:
    sink, warehouse, spool, _ = make()
    warehouse.failure = WriteFailed("the warehouse did not accept the write; retry later", retry_after_seconds=5)
    spool.down = True
    with pytest.raises(WriteFailed) as raised:
        sink.write(row("a"))
    assert raised.value.detail == ("the warehouse did not accept the write; retry later; "
                                   "the spool did not take it either")
    assert raised.value.retry_after_seconds == 5
    assert sink.spool_counters.snapshot() == {"spooled": 0, "spool_failed": 1}


def test_while_the_writers_attempts_fail_new_hits_do_not_join_the_failing_write() -> None:
    health = WarehouseHealth()
    sink, warehouse, spool, _ = make(health)
    health.attempt_failed()  # the write in flight is retrying against a BigQuery that refuses connections
    with sink._probe:  # and one hit is already waiting on it
        assert sink.write(row("a")) == "spooled"
    assert warehouse.calls == 0
    health.attempt_succeeded()
    assert sink.write(row("b")) == "stored"
    assert spool.rows == ["a"]
