"""Fakes for tests whose point is elsewhere than the warehouse (the HTTP layer, auth checks)."""

from __future__ import annotations

import threading
from typing import Any

from service.model.schema import HitRow
from service.runtime.sink import WriteFailed, WriteOutcome


class MemorySink:
    """Keeps rows in a list; can be told to fail, to test what the sender sees when a write fails."""

    def __init__(self) -> None:
        self.rows: list[HitRow] = []
        self.fail_with: WriteFailed | None = None
        self._lock = threading.Lock()

    def write(self, row: HitRow) -> WriteOutcome:
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            self.rows.append(row)
        return "stored"

    def counters(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass
