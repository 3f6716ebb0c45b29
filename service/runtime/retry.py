"""The one retry rule of the service: attempts within a deadline, with jittered exponential backoff.

The BigQuery writer (service/runtime/sink.py), the spool (service/runtime/spool.py) and the batcher's re-sends of
rows BigQuery did not try (service/runtime/batching.py) all retry by it, so a hit's time limits mean the same
thing on every path: no attempt starts without `min_attempt_seconds` left, no pause runs past the deadline, and
each attempt is told the time it has left (its HTTP timeout).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    number: int  # 1 for the first try
    remaining_seconds: float  # until the deadline: the attempt's own timeout


@dataclass(frozen=True)
class RetryRule:
    # An attempt with less time than this left cannot succeed against a real warehouse; give up instead.
    min_attempt_seconds: float = 0.05
    first_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 1.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    # The pause is backoff x [0.5, 1.5): the threads of one instance do not retry in lockstep.
    jitter: Callable[[], float] = random.random

    def attempts(self, deadline: float) -> Iterator[Attempt]:
        """Attempts while time is left before `deadline` (on `clock`). Asking for the next one pauses first;
        the iteration ends, without pausing, once a pause would leave too little time for another attempt."""
        backoff = self.first_backoff_seconds
        number = 1
        remaining = deadline - self.clock()
        while remaining > self.min_attempt_seconds:
            yield Attempt(number, remaining)
            pause = backoff * (0.5 + self.jitter())
            if deadline - self.clock() - pause <= self.min_attempt_seconds:
                return
            self.sleep(pause)
            backoff = min(backoff * 2, self.max_backoff_seconds)
            number += 1
            remaining = deadline - self.clock()

    def deadline_in(self, seconds: float) -> float:
        return self.clock() + seconds


DEFAULT_RULE = RetryRule()
