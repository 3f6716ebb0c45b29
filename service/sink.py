"""Where rows go. A `Sink` (service/batching.py's BatchingSink in production, MemorySink in tests of the
HTTP layer) returns from `write` only once the row is stored, and raises `WriteFailed` otherwise: the app
answers 2xx only after `write` returned, so an acknowledged hit is always in the table.

`BigQueryRowWriter` makes the insertAll calls the batching sink (and scripts/backfill) send.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from service.rows import HitRow

log = logging.getLogger(__name__)


class WriteFailed(Exception):
    """The row was not stored. `detail` is safe to show to the sender (no payload, no secret)."""

    def __init__(self, detail: str, retry_after_seconds: int = 5) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_seconds = retry_after_seconds


class Sink(Protocol):
    def write(self, row: HitRow) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps rows in a list; can be told to fail, to test what the sender sees when a write fails."""

    def __init__(self) -> None:
        self.rows: list[HitRow] = []
        self.fail_with: WriteFailed | None = None
        self._lock = threading.Lock()

    def write(self, row: HitRow) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            self.rows.append(row)

    def close(self) -> None:
        pass


class BigQueryRowWriter:
    """One insertAll per call, `row_ids`=hit_id so BigQuery can drop a retried duplicate."""

    def __init__(self, client: Any, table_id: str, deadline_seconds: float) -> None:
        from google.api_core.retry import Retry

        from service.bigquery_client import RETRYABLE

        self._client = client
        self._table_id = table_id
        self._deadline_seconds = deadline_seconds
        # The client's default retry runs for 600 s; a CRM waits far less, so the whole write,
        # retries included, must end within the deadline and then fail loudly.
        self._retry = Retry(predicate=RETRYABLE, initial=0.1, maximum=1.0, timeout=deadline_seconds,
                            on_error=self._log_retry)

    def _log_retry(self, error: Exception) -> None:
        # A resent request may repeat rows the first one stored: BigQuery drops them by insertId, the
        # emulator does not. Logged so a duplicate can be traced to its cause.
        log.warning("bigquery call retried", extra={"error": type(error).__name__, "table": self._table_id})

    def insert_rows(self, rows: Sequence[HitRow], timeout_seconds: float | None = None) -> list[str | None]:
        """Insert rows in one request; per row, None if stored or the reason it was rejected.

        `timeout_seconds` bounds the call, retries included (default: the sink's deadline): a batching
        caller passes what is left of its oldest row's deadline."""
        from google.api_core import exceptions as api_errors

        budget = self._deadline_seconds if timeout_seconds is None else max(timeout_seconds, 0.001)
        try:
            errors = self._client.insert_rows_json(
                self._table_id,
                list(rows),
                row_ids=[row["hit_id"] for row in rows],
                retry=self._retry.with_timeout(budget),
                timeout=min(budget, 10.0),
            )
        except (api_errors.GoogleAPIError, OSError) as error:
            # Messages from the API name the table, never the payload; keep only the class and code.
            log.error("bigquery write failed", extra={"error": type(error).__name__,
                                                      "rows": len(rows)})
            raise WriteFailed("the warehouse did not accept the write; retry later") from error
        reasons: list[str | None] = [None] * len(rows)
        for entry in errors:
            messages = "; ".join(
                f"{e.get('reason', 'error')}: {e.get('message', '')}".strip() for e in entry.get("errors", [])
            )
            reasons[int(entry["index"])] = messages or "rejected"
        return reasons

    def close(self) -> None:
        self._client.close()
