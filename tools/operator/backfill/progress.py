"""A one-line progress bar on stderr, drawn only when stderr is a terminal (logs and pipes stay clean)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total_bytes: int | None, out: TextIO | None = None, enabled: bool | None = None,
                 width: int = 30, interval_seconds: float = 0.1) -> None:
        self._out = out if out is not None else sys.stderr
        self._enabled = self._out.isatty() if enabled is None else enabled
        self._total = total_bytes if total_bytes else None
        self._width = width
        self._interval = interval_seconds
        self._last_draw = 0.0
        self._drawn = False

    def update(self, bytes_read: int, records: int, written: int, force: bool = False) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self._interval:
            return  # redrawing on every record would cost more than the load
        self._last_draw = now
        counts = f"{records:,} records read, {written:,} rows written"
        if self._total:
            share = min(bytes_read / self._total, 1.0)
            filled = int(share * self._width)
            bar = "#" * filled + "-" * (self._width - filled)
            line = f"[{bar}] {share:4.0%}  {counts}"
        else:
            line = f"{bytes_read / 1_048_576:,.1f} MiB  {counts}"
        self._out.write("\r" + line + "\x1b[K")
        self._out.flush()
        self._drawn = True

    def finish(self) -> None:
        """End the bar's line so what follows starts on a fresh one."""
        if self._drawn:
            self._out.write("\n")
            self._out.flush()
            self._drawn = False
