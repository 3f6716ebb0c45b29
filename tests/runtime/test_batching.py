"""BatchingSink with a fake writer: what goes into each insertAll, and what each caller is told.

The fake writer records every call and can be held (to let rows pile up behind a running call),
made to fail, or made to reject chosen rows the way BigQuery does (the bad row "invalid", the rest of
the request "stopped").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC

import pytest
from flask.testing import FlaskClient

from service.model.auth_settings import NoAuth
from service.model.schema import HitRow
from service.model.service_env import ServiceSpec
from service.model.stream import Stream
from service.runtime.app import create_app
from service.runtime.batching import BatchingSink
from service.runtime.rows import build_row
from service.runtime.settings import ServiceSettings
from service.runtime.sink import RowError, RowRejection, WriteFailed, WriteOutcome

WAIT = 10.0  # generous bound for thread hand-offs; never reached when the code works


def rejection(text: str) -> RowRejection:
    """`"invalid: bad value; stopped: ..."` as BigQuery's per-row errors."""
    return RowRejection(tuple(RowError(*(piece.strip() for piece in part.split(":", 1)))
                              for part in text.split("; ") if part.strip()))


def make_row(payload: str) -> HitRow:
    return build_row(payload, 1_700_000_000_000, UTC)


class FakeWriter:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.timeouts: list[float | None] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.reject: Callable[[HitRow], str | None] = lambda row: None
        self.fail_with: WriteFailed | None = None
        self.closed = False
        self._lock = threading.Lock()

    def insert_rows(self, rows: Sequence[HitRow],
                    timeout_seconds: float | None = None, encoded: object = None) -> list[RowRejection | None]:
        with self._lock:
            self.calls.append([row["payload"] for row in rows])
            self.timeouts.append(timeout_seconds)
        self.entered.set()
        assert self.hold.wait(WAIT)
        if self.fail_with is not None:
            raise self.fail_with
        reasons = [self.reject(row) for row in rows]
        if any(reasons):  # like insertAll without skipInvalidRows: one bad row stops the request
            return [rejection(reason or "stopped: not processed because another row was invalid")
                    for reason in reasons]
        return [None] * len(rows)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def writer() -> FakeWriter:
    return FakeWriter()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=64) as executor:
        yield executor


def start_writes(pool: ThreadPoolExecutor, sink: BatchingSink, payloads: list[str]) -> list[Future[WriteOutcome]]:
    return [pool.submit(sink.write, make_row(payload)) for payload in payloads]


def queued(sink: BatchingSink) -> int:
    with sink._changed:
        return len(sink._queue)


def eventually(condition: Callable[[], bool]) -> bool:
    """Poll `condition` for up to WAIT seconds (hand-offs between threads take a moment)."""
    pause = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if condition():
            return True
        pause.wait(0.01)
    return condition()


def wait_until_queued(sink: BatchingSink, count: int) -> None:
    assert eventually(lambda: queued(sink) >= count), f"only {queued(sink)} of {count} rows were queued"


def outcome(future: Future[WriteOutcome]) -> str:
    error = future.exception(WAIT)
    return "ok" if error is None else f"failed: {error}"


def test_rows_that_arrive_during_a_write_share_the_next_call(writer: FakeWriter,
                                                             pool: ThreadPoolExecutor) -> None:
    sink = BatchingSink(writer, deadline_seconds=WAIT, max_in_flight=1)
    writer.hold.clear()
    first = start_writes(pool, sink, ["first"])
    assert writer.entered.wait(WAIT)
    rest = start_writes(pool, sink, [f"r{i}" for i in range(40)])
    wait_until_queued(sink, 40)
    writer.hold.set()
    assert [outcome(f) for f in first + rest] == ["ok"] * 41
    assert writer.calls[0] == ["first"]
    assert sorted(writer.calls[1]) == sorted(f"r{i}" for i in range(40))
    assert len(writer.calls) == 2
    assert sink.counters()["sink"]["write_calls"] == 2
    assert sink.counters()["sink"]["rows_written"] == 41
    sink.close()


@pytest.mark.parametrize(("max_rows", "max_bytes"), [(7, 5_000_000), (500, 1_000)])
def test_batches_stay_within_the_row_and_byte_bounds(writer: FakeWriter, pool: ThreadPoolExecutor,
                                                     max_rows: int, max_bytes: int) -> None:
    sink = BatchingSink(writer, deadline_seconds=WAIT, max_rows=max_rows, max_bytes=max_bytes,
                        max_in_flight=1)
    writer.hold.clear()
    futures = start_writes(pool, sink, ["first"])
    assert writer.entered.wait(WAIT)
    payloads = [f"{i:03d}" + "x" * 100 for i in range(30)]
    futures += start_writes(pool, sink, payloads)
    wait_until_queued(sink, 30)
    writer.hold.set()
    assert [outcome(f) for f in futures] == ["ok"] * 31
    sent = [payload for call in writer.calls[1:] for payload in call]
    assert sorted(sent) == sorted(payloads)
    row_bytes = len(make_row(payloads[0])["payload"])
    for call in writer.calls:
        assert len(call) <= max_rows
        assert len(call) * row_bytes <= max_bytes
    assert len(writer.calls) > 2  # the bound split the 30 queued rows
    sink.close()


def test_a_rejected_row_fails_only_its_own_request_and_the_stopped_rows_are_resent(
        writer: FakeWriter, pool: ThreadPoolExecutor) -> None:
    writer.reject = lambda row: "invalid: no such field: colour" if row["payload"].startswith("bad") else None
    sink = BatchingSink(writer, deadline_seconds=WAIT, max_in_flight=1)
    writer.hold.clear()
    futures = start_writes(pool, sink, ["first"])
    assert writer.entered.wait(WAIT)
    payloads = [f"bad{i}" if i % 5 == 0 else f"good{i}" for i in range(20)]
    futures += start_writes(pool, sink, payloads)
    wait_until_queued(sink, 20)
    writer.hold.set()
    results = dict(zip(["first", *payloads], [outcome(f) for f in futures], strict=True))
    for payload, result in results.items():
        if payload.startswith("bad"):
            assert result == "failed: BigQuery rejected the row: invalid: no such field: colour"
        else:
            assert result == "ok", payload
    # The good rows of the mixed call went again, alone: each written exactly once in the end.
    resent = writer.calls[2]
    assert sorted(resent) == sorted(p for p in payloads if p.startswith("good"))
    counters = sink.counters()["sink"]
    assert counters["rows_written"] == 17
    assert counters["rows_failed"] == {"rejected": 4}
    sink.close()


def test_a_write_that_keeps_failing_transiently_ends_in_write_failed_at_the_deadline(
        writer: FakeWriter) -> None:
    writer.reject = lambda row: "backendError: try again"
    sink = BatchingSink(writer, deadline_seconds=0.3, max_in_flight=1)
    with pytest.raises(WriteFailed, match="in time"):
        sink.write(make_row("doomed"))
    assert len(writer.calls) >= 2  # it was retried before giving up
    assert all(t is not None and t <= 0.3 for t in writer.timeouts)
    assert sink.counters()["sink"]["rows_failed"] == {"deadline": 1}
    sink.close()


def test_a_failed_call_fails_every_row_it_carried(writer: FakeWriter, pool: ThreadPoolExecutor) -> None:
    writer.fail_with = WriteFailed("the warehouse did not accept the write; retry later")
    sink = BatchingSink(writer, deadline_seconds=WAIT, max_in_flight=1)
    futures = start_writes(pool, sink, [f"r{i}" for i in range(10)])
    assert {outcome(f) for f in futures} == {"failed: the warehouse did not accept the write; retry later"}
    sink.close()


def test_close_writes_what_is_queued_then_refuses_new_rows(writer: FakeWriter,
                                                           pool: ThreadPoolExecutor) -> None:
    sink = BatchingSink(writer, deadline_seconds=WAIT, max_in_flight=1)
    writer.hold.clear()
    futures = start_writes(pool, sink, ["first"])
    assert writer.entered.wait(WAIT)
    futures += start_writes(pool, sink, [f"r{i}" for i in range(10)])
    wait_until_queued(sink, 10)
    closing = pool.submit(sink.close)
    writer.hold.set()
    closing.result(WAIT)
    assert [outcome(f) for f in futures] == ["ok"] * 11
    assert sum(len(call) for call in writer.calls) == 11
    assert writer.closed
    assert not any(thread.is_alive() for thread in sink._threads)
    with pytest.raises(WriteFailed, match="shutting down"):
        sink.write(make_row("late"))


def test_a_second_call_starts_while_the_first_is_slow_when_two_may_be_in_flight(
        writer: FakeWriter, pool: ThreadPoolExecutor) -> None:
    sink = BatchingSink(writer, deadline_seconds=WAIT, max_in_flight=2, max_wait_seconds=0.001)
    writer.hold.clear()
    futures = start_writes(pool, sink, ["first"])
    assert writer.entered.wait(WAIT)
    futures += start_writes(pool, sink, ["second"])
    assert eventually(lambda: len(writer.calls) == 2)
    assert writer.calls == [["first"], ["second"]]
    writer.hold.set()
    assert [outcome(f) for f in futures] == ["ok", "ok"]
    sink.close()


@pytest.mark.parametrize(("text", "transient"), [
    ("stopped: not processed", True),
    ("backendError: x; timeout: y", True),
    ("invalid: no such field", False),
    ("stopped: a; invalid: b", False),
    ("", False),
])
def test_which_row_errors_are_retried(text: str, transient: bool) -> None:
    assert rejection(text).transient is transient


def test_metrics_endpoint_counts_received_written_and_rejected(writer: FakeWriter) -> None:
    stream = Stream(name="orders", dataset="crm", table="orders", auth=NoAuth())
    sink = BatchingSink(writer, deadline_seconds=WAIT, stream="orders")
    client: FlaskClient = create_app(ServiceSettings(spec=ServiceSpec.of(stream, "my-project"), metrics_endpoint=True),
                                     sink=sink).test_client()
    assert client.post("/hooks", data=b"orderId=N1").status_code == 200
    assert client.post("/hooks", data=b"").status_code == 400
    writer.fail_with = WriteFailed("the warehouse did not accept the write; retry later")
    assert client.post("/hooks", data=b"orderId=N2").status_code == 503
    body = client.get("/metrics").json
    assert body is not None
    assert body["stream"] == "orders"
    hits = body["hits"]
    assert (hits["received"], hits["written"]) == (3, 1)
    assert hits["rejected"] == {"empty_body": 1}
    assert hits["write_errors"] == {"not_stored": 1}
    assert hits["latency_ms"]["count"] == 3
    assert body["sink"]["write_calls"] == 2
    assert body["sink"]["rows_written"] == 1
    sink.close()


class OverrunningWriter:
    """Takes longer than the time it is given, then stores the rows: a sick network or client library."""

    def __init__(self, overrun_seconds: float) -> None:
        self.overrun_seconds = overrun_seconds
        self.stored: list[str] = []

    def insert_rows(self, rows: Sequence[HitRow],
                    timeout_seconds: float | None = None, encoded: object = None) -> list[RowRejection | None]:
        assert timeout_seconds is not None
        threading.Event().wait(timeout_seconds + self.overrun_seconds)
        self.stored.extend(row["hit_id"] for row in rows)
        return [None] * len(rows)

    def close(self) -> None:
        pass


def test_a_caller_is_never_told_not_stored_for_a_row_that_is_stored_later() -> None:
    # The writer overruns the deadline by 3 s and then stores the row. Answering 503 at the deadline
    # (plus any grace shorter than the overrun) would make the sender retry into a duplicate.
    writer = OverrunningWriter(overrun_seconds=3.0)
    sink = BatchingSink(writer, deadline_seconds=0.5, max_in_flight=1)
    row = make_row("late but stored")
    sink.write(row)  # returns only once the write really ended, and did not raise: the row is stored
    assert writer.stored == [row["hit_id"]]
    sink.close()


class CrashingOnRetryWriter:
    """Stores the first row of the first call and asks for the rest again, then raises on the retry
    (as a credentials refresh error would)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def insert_rows(self, rows: Sequence[HitRow],
                    timeout_seconds: float | None = None, encoded: object = None) -> list[RowRejection | None]:
        self.calls.append([row["payload"] for row in rows])
        if len(self.calls) > 1:
            raise RuntimeError("credentials refresh failed")
        retry: list[RowRejection | None] = [rejection("backendError: try again")] * (len(rows) - 1)
        return [None, *retry]

    def close(self) -> None:
        pass


def test_a_crash_after_part_of_a_batch_was_stored_fails_only_the_rest(pool: ThreadPoolExecutor) -> None:
    writer = CrashingOnRetryWriter()
    gate = FakeWriter()  # holds the first call so that the three rows below share the second one
    gate.hold.clear()

    class TwoPhase:
        def insert_rows(self, rows: Sequence[HitRow],
                    timeout_seconds: float | None = None, encoded: object = None) -> list[RowRejection | None]:
            if rows[0]["payload"] == "opener":
                return gate.insert_rows(rows, timeout_seconds)
            return writer.insert_rows(rows, timeout_seconds)

        def close(self) -> None:
            pass

    sink = BatchingSink(TwoPhase(), deadline_seconds=WAIT, max_in_flight=1)
    opener = start_writes(pool, sink, ["opener"])
    assert gate.entered.wait(WAIT)
    futures = start_writes(pool, sink, ["a"])
    wait_until_queued(sink, 1)
    futures += start_writes(pool, sink, ["b"])
    wait_until_queued(sink, 2)
    futures += start_writes(pool, sink, ["c"])
    wait_until_queued(sink, 3)
    gate.hold.set()
    assert outcome(opener[0]) == "ok"
    results = [outcome(f) for f in futures]
    # The crash happened, on the retry of the two rows that were not stored by the first call.
    assert writer.calls == [["a", "b", "c"], ["b", "c"]]
    assert results == ["ok", "failed: internal error while writing (RuntimeError)",
                       "failed: internal error while writing (RuntimeError)"]
    counters = sink.counters()["sink"]
    assert counters["rows_written"] == 2  # the opener and "a", each once
    assert counters["rows_failed"] == {"crash": 2}
    sink.close()
