"""BigQueryRowWriter: every attempt ends within the time it was given, and sends exactly the rows.

The fake client stands in for google-cloud-bigquery's connection (`client._connection.api_request`,
the call `insert_rows_json` makes; the point here is the time budget, not HTTP): a hanging attempt takes
the whole HTTP timeout it is given, on a fake clock. The real HTTP path is covered end to end against
the emulator (tests/runtime/test_integration.py, tests/runtime/test_hardening.py).
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import pytest
from google.api_core import exceptions as api_errors

from service.runtime.retry import RetryRule
from service.runtime.rows import build_row
from service.runtime.sink import BigQueryRowWriter, RowError, RowRejection, WriteFailed


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeClient:
    """Has what the writer uses of `google.cloud.bigquery.Client`: its connection, and close()."""

    def __init__(self) -> None:
        self._connection = self

    def api_request(self, method: str, path: str, data: Any, content_type: str, timeout: float) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class HangingClient(FakeClient):
    """Each call hangs for 0.7 s, or its whole `timeout` if that is shorter (on the fake clock), then
    fails with a retryable error."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.attempts: list[dict[str, Any]] = []

    def api_request(self, method: str, path: str, data: Any, content_type: str, timeout: float) -> dict[str, Any]:
        self.attempts.append({"started": self.clock.now, "timeout": timeout})
        self.clock.now += min(timeout, 0.7)
        raise api_errors.ServiceUnavailable("backend timed out")  # type: ignore[no-untyped-call]


def test_no_attempt_outlives_the_time_the_caller_gave() -> None:
    clock = FakeClock()
    client = HangingClient(clock)
    # The pauses between attempts are not the point here (they do not move the fake clock).
    writer = BigQueryRowWriter(client, "p.d.t", deadline_seconds=10.0,
                               retry=RetryRule(clock=clock, sleep=lambda _seconds: None))
    started = clock.now
    with pytest.raises(WriteFailed):
        writer.insert_rows([build_row("orderId=N1", 1_700_000_000_000, UTC)], timeout_seconds=2.0)
    assert len(client.attempts) >= 2, "the writer did not retry a retryable error"
    # Each attempt's HTTP timeout is the time left, not a fixed per-attempt timeout.
    assert [round(attempt["timeout"], 3) for attempt in client.attempts] == [2.0, 1.3, 0.6]
    for attempt in client.attempts:
        assert attempt["started"] + attempt["timeout"] <= started + 2.0
    assert clock.now <= started + 2.0


class FlakyClient(FakeClient):
    """Fails with a retryable error `failures` times, then stores the rows; keeps what it was sent."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls = 0
        self.requests: list[tuple[str, str, bytes, int]] = []

    def api_request(self, method: str, path: str, data: Any, content_type: str, timeout: float) -> dict[str, Any]:
        self.calls += 1
        # A small body comes as one bytes object, a large one as an iterable of pieces with a length.
        self.requests.append((method, path, data if isinstance(data, bytes) else b"".join(data), len(data)))
        if self.calls <= self.failures:
            raise api_errors.ServiceUnavailable("try again")  # type: ignore[no-untyped-call]
        return {"kind": "bigquery#tableDataInsertAllResponse"}


def test_a_transient_error_is_retried_with_the_same_request() -> None:
    client = FlakyClient(failures=2)
    writer = BigQueryRowWriter(client, "proj.crm.orders", deadline_seconds=10.0)
    row = build_row("orderId=N1&note=\x01\N{GRINNING FACE}\"", 1_700_000_000_000, UTC, hit_id="h-1")
    assert writer.insert_rows([row]) == [None]
    assert client.calls == 3
    assert len({request for request in client.requests}) == 1  # each retry sends the same bytes
    method, path, body, announced_length = client.requests[0]
    assert (method, path) == ("POST", "/projects/proj/datasets/crm/tables/orders/insertAll")
    assert announced_length == len(body)  # the Content-Length the HTTP client sends
    assert json.loads(body) == {"rows": [{"insertId": "h-1", "json": {
        "hit_id": "h-1", "payload": "orderId=N1&note=\x01\N{GRINNING FACE}\"", "received_at": 1_700_000_000_000,
        "date": "2023-11-14", "delivery_id": None, "headers": None}}]}


def test_per_row_errors_come_back_for_exactly_their_rows() -> None:
    class RejectingClient(FakeClient):
        def api_request(self, method: str, path: str, data: Any, content_type: str,
                        timeout: float) -> dict[str, Any]:
            return {"insertErrors": [{"index": 1, "errors": [{"reason": "invalid", "message": "no such field"}]}]}

    writer = BigQueryRowWriter(RejectingClient(), "p.d.t", deadline_seconds=10.0)
    rows = [build_row(f"orderId=N{n}", 1_700_000_000_000, UTC) for n in range(3)]
    assert writer.insert_rows(rows) == [None, RowRejection((RowError("invalid", "no such field"),)), None]


def test_a_permanent_error_is_not_retried() -> None:
    class NotFoundClient(FlakyClient):
        def api_request(self, method: str, path: str, data: Any, content_type: str,
                        timeout: float) -> dict[str, Any]:
            self.calls += 1
            raise api_errors.NotFound("table not found")  # type: ignore[no-untyped-call]

    client = NotFoundClient(failures=0)
    writer = BigQueryRowWriter(client, "p.d.t", deadline_seconds=10.0)
    with pytest.raises(WriteFailed):
        writer.insert_rows([build_row("orderId=N1", 1_700_000_000_000, UTC)])
    assert client.calls == 1
