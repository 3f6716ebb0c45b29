"""The one retry rule: how many attempts a deadline allows, how long each may take, and the pauses between."""

from __future__ import annotations

from service.runtime.retry import RetryRule


class Clock:
    """A clock that only the rule's pauses and the test's own "calls" move."""

    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def rule(clock: Clock, jitter: float = 0.5) -> RetryRule:
    # jitter 0.5 makes each pause exactly the backoff (backoff x (0.5 + jitter)).
    return RetryRule(clock=clock, sleep=clock.sleep, jitter=lambda: jitter)


def test_attempts_that_fail_at_once_back_off_doubling_up_to_the_cap() -> None:
    clock = Clock()
    attempts = list(rule(clock).attempts(clock.now + 3.0))
    # Pauses 0.05, 0.1, 0.2, 0.4, 0.8 (1.55 s), then 1.0, the cap (2.55 s: 0.45 s left for a 7th attempt);
    # another 1.0 would pass the deadline, so the rule stops without pausing.
    assert clock.pauses == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0]
    assert [attempt.number for attempt in attempts] == [1, 2, 3, 4, 5, 6, 7]
    assert [round(attempt.remaining_seconds, 2) for attempt in attempts] == [3.0, 2.95, 2.85, 2.65, 2.25, 1.45, 0.45]


def test_each_attempt_is_given_what_is_left_and_none_starts_without_enough_time() -> None:
    clock = Clock()
    given = []
    for attempt in rule(clock).attempts(clock.now + 2.0):
        given.append(round(attempt.remaining_seconds, 3))
        clock.now += min(attempt.remaining_seconds, 0.7)  # each call hangs 0.7 s (or its whole timeout)
    # 2.0 -> 0.7 s call, 0.05 pause -> 1.25 -> 0.7 s call, 0.1 pause -> 0.45 -> hangs to the deadline.
    assert given == [2.0, 1.25, 0.45]
    assert clock.now == 102.0  # never past the deadline


def test_the_pause_is_jittered_between_half_and_one_and_a_half_times_the_backoff() -> None:
    low, high = Clock(), Clock()
    list(rule(low, jitter=0.0).attempts(low.now + 0.3))
    list(rule(high, jitter=0.999).attempts(high.now + 0.3))
    assert low.pauses[:2] == [0.025, 0.05]
    assert [round(pause, 4) for pause in high.pauses[:1]] == [0.075]


def test_no_time_no_attempt() -> None:
    clock = Clock()
    assert list(rule(clock).attempts(clock.now + 0.05)) == []
