"""Whether new hits should try BigQuery now, or go straight to the spool: one small policy, one owner.

The writer reports every attempt (service/runtime/sink.py). One failed attempt (connection refused, 5xx,
timeout), or a write still running when its hit's answer budget ran out, makes BigQuery "failing": the
spooling sink (service/runtime/spooling_sink.py) then sends new hits to the spool at once instead of into a
write that fails at its deadline. What ends it is a background probe, one cheap call (the table's
metadata) at growing intervals, or a write attempt that gets through: no sender's hit is ever the probe,
so during an outage every hit is answered in the time of a spool upload.

On Cloud Run the probe thread gets CPU while requests are in flight (the CPU is throttled between them):
during an outage hits keep coming, and each of them gives the probe its time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("hookstream.health")

FIRST_PROBE_SECONDS = 0.5
MAX_PROBE_INTERVAL_SECONDS = 10.0
PROBE_TIMEOUT_SECONDS = 2.0


class WarehouseHealth:
    """`failing` is read on every hit (one bool, written and read whole); the rest is behind a lock."""

    def __init__(self, probe: Callable[[float], object], *, stream: str = "",
                 first_interval_seconds: float = FIRST_PROBE_SECONDS,
                 max_interval_seconds: float = MAX_PROBE_INTERVAL_SECONDS,
                 probe_timeout_seconds: float = PROBE_TIMEOUT_SECONDS) -> None:
        self._probe = probe  # raises when BigQuery cannot answer; called with its timeout in seconds
        self._stream = stream
        self._first_interval = first_interval_seconds
        self._max_interval = max_interval_seconds
        self._probe_timeout = probe_timeout_seconds
        self.failing = False
        self.probes = 0  # probe calls made, for /metrics and the tests
        self._lock = threading.Lock()
        self._prober: threading.Thread | None = None
        self._closed = threading.Event()

    def attempt_failed(self) -> None:
        self._mark_failing("bigquery failing: new hits go to the spool until a probe gets through")

    def write_outlasted_budget(self) -> None:
        """A write has run longer than the answer budget (BigQuery frozen, or very slow): until it or a
        probe gets through, new hits go to the spool rather than wait for the budget each."""
        self._mark_failing("bigquery slower than the answer budget: new hits go to the spool until a probe "
                           "or the write gets through")

    def _mark_failing(self, why: str) -> None:
        if self.failing and self._prober is not None:
            return  # already known, and the probe is on it
        with self._lock:
            if not self.failing:
                log.warning(why, extra={"stream": self._stream})
            self.failing = True
            self._start_prober_locked()

    def attempt_succeeded(self) -> None:
        self.failing = False

    def close(self) -> None:
        self._closed.set()

    def _start_prober_locked(self) -> None:
        if self._prober is None and not self._closed.is_set():
            self._prober = threading.Thread(target=self._probe_until_recovered, name="hookstream-bigquery-probe",
                                            daemon=True)
            self._prober.start()

    def _probe_until_recovered(self) -> None:
        interval = self._first_interval
        while self.failing and not self._closed.wait(interval):
            if not self.failing:
                break  # a write attempt got through meanwhile
            try:
                self.probes += 1
                self._probe(self._probe_timeout)
            except Exception as error:  # any failure to answer is "still failing"; the class is enough
                log.info("bigquery probe failed", extra={"stream": self._stream, "error": type(error).__name__,
                                                         "next_probe_seconds": min(interval * 2, self._max_interval)})
                interval = min(interval * 2, self._max_interval)
                continue
            self.failing = False
            log.warning("bigquery answering again: hits are written to it again", extra={"stream": self._stream})
        with self._lock:
            self._prober = None
            if self.failing:  # failed again after this probe's last look: keep probing
                self._start_prober_locked()
