"""The framing barrage's own logic, without a server: cases are reproducible, and the judge counts
each kind of wrong outcome where a person would expect it (tests/tools/test_framing.py runs it for real)."""

from __future__ import annotations

from tests.barrage.framing import FAULTS, MARKER, MAX_DRIBBLE_SECONDS, Case, Ending, Expect, Piece, Target, make_case
from tests.barrage.framing_barrage import Outcome, judge

TARGET = Target(token="tok-0123456789abcdef", max_body_bytes=4096)


def test_a_case_is_the_same_bytes_for_the_same_seed_and_number() -> None:
    assert make_case(7, 42, TARGET) == make_case(7, 42, TARGET)
    assert make_case(7, 42, TARGET).wire != make_case(8, 42, TARGET).wire


def test_every_fault_class_comes_up_and_slow_senders_stay_bounded() -> None:
    cases = [make_case(1, number, TARGET) for number in range(3000)]
    assert {case.fault for case in cases} == set(FAULTS)
    slow = [case for case in cases if "slow" in case.note]
    assert len(slow) > 100
    assert max(sum(piece.pause_after for piece in case.pieces) for case in slow) <= MAX_DRIBBLE_SECONDS
    # A valid hit's payload carries its case's marker, so a stray row can be traced back to its case.
    for case in cases:
        if case.expect is Expect.STORE and case.payload is not None:
            found = MARKER.search(case.payload)
            assert found is not None and int(found.group(1)) == case.number, case.describe(TARGET.token)


def test_the_judge_counts_each_kind_of_wrong_outcome() -> None:
    """judge() on hand-made outcomes, rows and log: each breach is counted where a person would expect."""
    token = TARGET.token

    def case(number: int, expect: Expect, payload: str | None) -> Case:
        return Case(number, "made_up", (Piece(b"POST /hooks/x HTTP/1.1\r\n\r\n"),), Ending.READ, expect, payload)

    outcomes = [
        Outcome(case(0, Expect.STORE, "a=1"), 200, "h0", b"", 10),  # stored right
        Outcome(case(1, Expect.STORE, "b=2"), 200, "h1", b"", 10),  # stored with another payload
        Outcome(case(2, Expect.STORE, "c=3"), 200, "h2", b"", 10),  # acknowledged, no row
        Outcome(case(3, Expect.REFUSE, None), 200, "h3", b"", 10),  # must refuse, answered 200, stored
        Outcome(case(4, Expect.REFUSE, None), 500, None, b"", 10),  # a 5xx
        Outcome(case(5, Expect.STORE, "e=5"), 400, None, b"", 10),  # a valid hit refused
    ]
    rows = [("h0", "a=1"), ("h1", "b=2 "), ("h3", "x=hs3hs"), ("h9", "orphan hs4hs"), ("h0", "a=1")]
    log = f'{{"message": "ok"}}\n{{"message": "Exception on /hooks/{token} [POST]"}}\n'
    verdict = judge(outcomes, rows, log, token, health_after=True)
    assert verdict.figures() == {
        "cases": 6, "statuses": {"200": 4, "400": 1, "500": 1}, "no_answer": 0, "hung_up_by_client": 0,
        "timeouts": 0, "5xx": 1, "acknowledged": 4, "acknowledged_must_refuse": 1, "valid_not_acknowledged": 1,
        "lost_acknowledged": 1, "duplicate_rows": 1, "payload_mismatches": 1, "rows_from_refused": 2, "rows": 5,
        "token_in_logs": 1, "health_after": True, "passed": False,
    }
    assert token not in "\n".join(verdict.problems)
    assert verdict.token_log_lines == ['{"message": "Exception on /hooks/<token> [POST]"}']


