"""Where rows go. A `Sink` (service/runtime/batching.py's BatchingSink, wrapped by the spooling sink where the stream
has a spool; tests/fakes.py's MemorySink in tests of the HTTP layer) returns from `write` only once the row is durably
kept, in the table ("stored") or in the spool ("spooled"), and raises `WriteFailed` otherwise: the app answers 2xx
only after `write` returned, so an acknowledged hit is in the table, or in the spool from which replay writes it.

`BigQueryRowWriter` makes the insertAll calls the batching sink (and scripts/backfill) send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from service.model.schema import HitRow
from service.runtime.insert_all_body import EncodedRow, InsertAllBody
from service.runtime.retry import DEFAULT_RULE, RetryRule

log = logging.getLogger(__name__)

# "stored": BigQuery accepted the row; "spooled": it did not, but the row is in the spool
# (service/runtime/spool.py), from which replay writes it.
WriteOutcome = Literal["stored", "spooled"]


class WriteFailed(Exception):
    """The row was not stored. `detail` is safe to show to the sender (no payload, no secret).

    `row_at_fault`: BigQuery refused this row itself (invalid); sending it again would fail the same way, so
    the sender is told 422 (or, with a spool, the row is kept there and replay quarantines it for a person).
    Otherwise the failure is the warehouse's (down, too slow, permission, missing table, quota) and the row
    may be spooled."""

    def __init__(self, detail: str, retry_after_seconds: int = 5, *, row_at_fault: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_seconds = retry_after_seconds
        self.row_at_fault = row_at_fault


# BigQuery per-row reasons that say the row was not stored but may be on a second try.
TRANSIENT_ROW_REASONS = frozenset({
    "stopped", "backendError", "internalError", "timeout", "rateLimitExceeded",
})


@dataclass(frozen=True)
class RowError:
    reason: str  # BigQuery's reason code: "invalid", "stopped", ...
    message: str


@dataclass(frozen=True)
class RowRejection:
    """Why BigQuery did not store one row of an insertAll: its errors, as BigQuery gave them."""

    errors: tuple[RowError, ...]

    @property
    def transient(self) -> bool:
        """True when every error says the row may be stored on a second try (e.g. stopped by another row)."""
        return bool(self.errors) and all(error.reason in TRANSIENT_ROW_REASONS for error in self.errors)

    def caused_by_another_row(self) -> bool:
        return bool(self.errors) and all(error.reason == "stopped" for error in self.errors)

    def __str__(self) -> str:
        return "; ".join(f"{e.reason}: {e.message}".strip() for e in self.errors) or "rejected"


class Sink(Protocol):
    def write(self, row: HitRow) -> WriteOutcome: ...

    def counters(self) -> dict[str, Any]:
        """What the sink did so far, by section (GET /metrics shows them): {} when it counts nothing."""

    def close(self) -> None: ...


# What a submitted row comes to: stored (or spooled), or the failure a blocking write() would have raised.
Verdict = WriteOutcome | WriteFailed
# Runs a job on a thread that may block (a spool upload, a slow socket), never on the thread giving verdicts.
RunBlocking = Callable[[Callable[[], None]], None]


@runtime_checkable
class SubmittingSink(Sink, Protocol):
    """A sink that can also take a row without holding the caller's thread until its verdict.

    `submit` returns once the row is queued: `done(verdict)` is then called exactly once, later, from another
    thread (the one giving the verdict: keep `done` short and non-blocking; anything that blocks, such as a
    spool upload, the sink passes to `run_blocking`). It raises WriteFailed, as `write` would, for a row
    refused at once (shutting down), and then never calls `done`."""

    def submit(self, row: HitRow, done: Callable[[Verdict], None], run_blocking: RunBlocking) -> None: ...


class AttemptObserver(Protocol):
    """Told about every BigQuery attempt as it ends (service/runtime/warehouse_health.py is one)."""

    def attempt_failed(self) -> None: ...

    def attempt_succeeded(self) -> None: ...


class BigQueryRowWriter:
    """One insertAll per call, `row_ids`=hit_id so BigQuery can drop a retried duplicate.

    Every attempt, retries included, ends within the time the caller gives: the client library's own
    retry loop is off (it only checks its deadline between attempts, and gives each attempt the full
    timeout), and each attempt's HTTP timeout is the time left. A caller that answers 503 after this
    returns can be sure no attempt of this call is still running."""

    def __init__(self, client: Any, table_id: str, deadline_seconds: float,
                 retry: RetryRule = DEFAULT_RULE, health: AttemptObserver | None = None) -> None:
        self._client = client
        self._health = health
        self._table_id = table_id
        project, dataset, table = table_id.split(".")
        self._table_path = f"/projects/{project}/datasets/{dataset}/tables/{table}"
        self._deadline_seconds = deadline_seconds
        self._retry = retry

    def insert_rows(self, rows: Sequence[HitRow], timeout_seconds: float | None = None,
                    encoded: Sequence[EncodedRow] | None = None) -> list[RowRejection | None]:
        """Insert rows in one request; per row, None if stored or why it was rejected. `encoded`: the same rows
        already encoded by insert_all_body.encode_row (the batching sink encodes each row once, when queued).

        `timeout_seconds` bounds the call, retries included (default: the sink's deadline): a batching
        caller passes what is left of its oldest row's deadline."""
        from google.api_core import exceptions as api_errors

        from service.runtime.bigquery_client import RETRYABLE

        budget = self._deadline_seconds if timeout_seconds is None else timeout_seconds
        last_error: BaseException | None = None
        for attempt in self._retry.attempts(self._retry.deadline_in(budget)):
            try:
                errors = self._insert_all(rows if encoded is None else encoded, attempt.remaining_seconds)
            except (api_errors.GoogleAPIError, OSError) as error:
                if self._health is not None:
                    self._health.attempt_failed()
                if not RETRYABLE(error):
                    # Messages from the API name the table, never the payload; keep only the class.
                    log.error("bigquery write failed", extra={"error": type(error).__name__, "rows": len(rows)})
                    raise WriteFailed("the warehouse did not accept the write; retry later") from error
                # A resent request may repeat rows the first one stored: BigQuery drops them by insertId,
                # the emulator does not. Logged so a duplicate can be traced to its cause.
                log.warning("bigquery call retried", extra={"error": type(error).__name__, "table": self._table_id,
                                                            "attempt": attempt.number})
                last_error = error
                continue
            if self._health is not None:
                self._health.attempt_succeeded()
            break
        else:
            if last_error is not None:
                log.error("bigquery write failed", extra={"error": type(last_error).__name__, "rows": len(rows)})
            raise WriteFailed("the warehouse did not accept the write in time; retry later") from last_error
        results: list[RowRejection | None] = [None] * len(rows)
        for entry in errors:
            results[int(entry["index"])] = RowRejection(tuple(
                RowError(str(e.get("reason", "error")), str(e.get("message", ""))) for e in entry.get("errors", [])))
        return results

    def _insert_all(self, rows: Sequence[EncodedRow], timeout: float) -> list[dict[str, Any]]:
        """The insertAll call `Client.insert_rows_json` makes, with the body encoded by
        service/runtime/insert_all_body.py (a small body in one piece, a large one streamed in pieces, never
        escaped whole twice) instead of the client's own encoding: through the client's own
        authorized connection, so endpoint, credentials and user agent are the client's."""
        response = self._client._connection.api_request(
            method="POST", path=f"{self._table_path}/insertAll", data=InsertAllBody(rows).to_send(),
            content_type="application/json", timeout=timeout)
        errors: list[dict[str, Any]] = response.get("insertErrors", [])
        return errors

    def close(self) -> None:
        self._client.close()
