"""The framing barrage: raw HTTP/1.1 bytes at a real gunicorn + BigQuery emulator, below any HTTP client.

A short seeded run of random cases (tests/barrage/framing.py; `scripts/fuzz` runs 10,000+), a run of
clean cases that proves the harness itself, and named cases, one per fault class, so that a failure
says what broke. Each test has its own service and table; the service is stopped (gracefully: the
requests in flight finish) before the table and the log are read, so both are complete.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from service.model.auth_settings import TokenAuth
from service.model.stream import Stream
from tests.barrage.framing import (
    VALID_FAULTS,
    Case,
    Ending,
    Expect,
    Piece,
    Target,
    chunked,
    dribble,
    head,
    make_case,
)
from tests.barrage.framing_barrage import (
    Outcome,
    Verdict,
    health_answers,
    judge,
    report,
    send_case,
    send_cases,
    table_rows,
)
from tests.conftest import Emulator, RunningService, ServiceFactory
from tools.local.dev_secrets import generate_secret

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("HOOKSTREAM_FRAMING_SEED", "20240917"))
SHORT_RUN_CASES = 400
LIMIT = 4096


@dataclass
class Served:
    service: RunningService
    table_id: str
    target: Target


def serve(emulator: Emulator, start_stream_service: ServiceFactory, table: str) -> Served:
    stream = Stream(name="framing", dataset="it_framing", table=table, max_body_bytes=LIMIT)
    token = generate_secret(TokenAuth())
    service = start_stream_service(stream, secrets=(token,), threads=16)
    return Served(service, f"{emulator.project}.{stream.table_ref}", Target(token, LIMIT))


def finish(served: Served, emulator: Emulator, outcomes: list[Outcome]) -> Verdict:
    """/health, then stop the service (graceful), then judge against the complete table and log."""
    healthy = health_answers(served.service.port)
    served.service.process.stop()
    rows = table_rows(emulator.client, served.table_id)
    log_text = served.service.process.log_path.read_text(errors="replace")
    return judge(outcomes, rows, log_text, served.target.token, healthy)


def test_a_short_random_barrage_stores_exactly_the_valid_hits(emulator: Emulator,
                                                               start_stream_service: ServiceFactory) -> None:
    served = serve(emulator, start_stream_service, "barrage")
    print(f"\nframing barrage seed {SEED} (HOOKSTREAM_FRAMING_SEED={SEED} repeats it)")
    cases = [make_case(SEED, number, served.target) for number in range(SHORT_RUN_CASES)]
    verdict = finish(served, emulator, send_cases(served.service.port, cases, concurrency=4))
    print(report(verdict))
    # The barrage did its job: every case ran, valid hits were written and faults were refused.
    assert verdict.cases == SHORT_RUN_CASES
    assert verdict.acknowledged >= 100
    assert sum(count for status, count in verdict.statuses.items() if status.startswith("4")) >= 100
    failures = {name: value for name, value in verdict.figures().items()
                if name in ("5xx", "acknowledged_must_refuse", "valid_not_acknowledged", "lost_acknowledged",
                            "duplicate_rows", "payload_mismatches", "rows_from_refused", "token_in_logs")
                and value != 0}
    assert failures == {}, f"seed {SEED}:\n{report(verdict)}"
    assert verdict.health_after


HARNESS_FAULTS = (*VALID_FAULTS, "wrong_token", "invalid_utf8_body", "oversize_body", "empty_body", "wrong_method",
                  "content_length_invalid", "bad_header_syntax")


def test_the_harness_passes_a_service_that_gets_clean_requests(emulator: Emulator,
                                                               start_stream_service: ServiceFactory) -> None:
    """Only valid hits and faults that gunicorn or the app refuse cleanly today: every figure must pass,
    and every valid hit must be one row with exactly its payload (the harness counts right)."""
    served = serve(emulator, start_stream_service, "clean")
    cases = [make_case(SEED, number, served.target, faults=HARNESS_FAULTS) for number in range(200)]
    verdict = finish(served, emulator, send_cases(served.service.port, cases, concurrency=4))
    valid = sum(case.expect is Expect.STORE for case in cases)
    assert valid >= 100
    assert verdict.passed, report(verdict)
    assert verdict.acknowledged == valid
    assert verdict.rows == valid
    assert verdict.statuses["401"] > 0 and verdict.statuses["413"] > 0


# -- named cases: one fault class each ------------------------------------------------------------

@dataclass(frozen=True)
class Named:
    build: Callable[[Target], Case]
    allowed: frozenset[int | None]  # statuses a correct server may answer (None: closes without one)


def _case(fault: str, wire: bytes, ending: Ending, expect: Expect, payload: str | None = None) -> Case:
    return Case(0, fault, (Piece(wire),), ending, expect, payload)


def short_body_half_close(t: Target) -> Case:
    return _case("content_length_short_half_close",
                 head("POST", f"/hooks/{t.token}", [("Content-Length", "100")]) + b"orderId=N1",
                 Ending.HALF_CLOSE, Expect.REFUSE)


def short_body_hang_up(t: Target) -> Case:
    return _case("content_length_short_close",
                 head("POST", f"/hooks/{t.token}", [("Content-Length", "100")]) + b"orderId=N1",
                 Ending.CLOSE, Expect.REFUSE)


def chunk_cut_mid_chunk(t: Target) -> Case:
    return _case("chunked_truncated",
                 head("POST", f"/hooks/{t.token}", [("Transfer-Encoding", "chunked")]) + b"40\r\norderId=N1",
                 Ending.HALF_CLOSE, Expect.REFUSE)


def chunk_size_not_hex(t: Target) -> Case:
    return _case("bad_chunk_size",
                 head("POST", f"/hooks/{t.token}", [("Transfer-Encoding", "chunked")])
                 + b"zz\r\norderId=N1\r\n0\r\n\r\n", Ending.HALF_CLOSE, Expect.REFUSE)


def chunked_without_last_chunk(t: Target) -> Case:
    return _case("chunked_truncated",
                 head("POST", f"/hooks/{t.token}", [("Transfer-Encoding", "chunked")]) + b"a\r\norderId=N1\r\n",
                 Ending.HALF_CLOSE, Expect.REFUSE)


def chunk_without_crlf(t: Target) -> Case:
    return _case("chunk_framing_broken",
                 head("POST", f"/hooks/{t.token}", [("Transfer-Encoding", "chunked")]) + b"a\r\norderId=N1XX0\r\n\r\n",
                 Ending.HALF_CLOSE, Expect.REFUSE)


def length_and_chunked_with_smuggled_request(t: Target) -> Case:
    smuggled = head("POST", f"/hooks/{t.token}", [("Content-Length", "10")]) + b"smuggled=1"
    return _case("content_length_and_chunked",
                 head("POST", f"/hooks/{t.token}", [("Content-Length", "15"), ("Transfer-Encoding", "chunked")])
                 + b"a\r\norderId=N1\r\n0\r\n\r\n" + smuggled, Ending.READ, Expect.REFUSE)


def two_content_lengths(t: Target) -> Case:
    return _case("content_length_invalid",
                 head("POST", f"/hooks/{t.token}", [("Content-Length", "10"), ("Content-Length", "12")])
                 + b"orderId=N1&x", Ending.HALF_CLOSE, Expect.REFUSE)


def unknown_transfer_coding(t: Target) -> Case:
    return _case("bad_transfer_encoding",
                 head("POST", f"/hooks/{t.token}", [("Transfer-Encoding", "xchunked")])
                 + b"a\r\norderId=N1\r\n0\r\n\r\n", Ending.HALF_CLOSE, Expect.REFUSE)


def body_without_length(t: Target) -> Case:
    return _case("body_without_length", head("POST", f"/hooks/{t.token}", []) + b"orderId=N1",
                 Ending.HALF_CLOSE, Expect.REFUSE)


def hang_up_in_the_headers(t: Target) -> Case:
    return _case("early_disconnect", f"POST /hooks/{t.token} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le".encode(),
                 Ending.CLOSE, Expect.REFUSE)


def request_line_without_version(t: Target) -> Case:
    return _case("bad_request_line", f"POST /hooks/{t.token}\r\nContent-Length: 10\r\n\r\norderId=N1".encode(),
                 Ending.READ, Expect.REFUSE)


def folded_header(t: Target) -> Case:
    return _case("folded_header",
                 head("POST", f"/hooks/{t.token}", [("X-Crm-Note", "first\r\n second"), ("Content-Length", "10")])
                 + b"orderId=N1", Ending.READ, Expect.MAY_STORE, "orderId=N1")


def huge_header(t: Target) -> Case:
    return _case("huge_header",
                 head("POST", f"/hooks/{t.token}", [("X-Crm-Padding", "p" * 70_000), ("Content-Length", "10")])
                 + b"orderId=N1", Ending.READ, Expect.MAY_STORE, "orderId=N1")


def many_headers(t: Target) -> Case:
    headers = [(f"X-Crm-{i}", str(i)) for i in range(150)]
    return _case("many_headers", head("POST", f"/hooks/{t.token}", [*headers, ("Content-Length", "10")])
                 + b"orderId=N1", Ending.READ, Expect.MAY_STORE, "orderId=N1")


def body_longer_than_content_length(t: Target) -> Case:
    return _case("content_length_long",
                 head("POST", f"/hooks/{t.token}", [("Content-Length", "10")]) + b"orderId=N1&extra=1",
                 Ending.READ, Expect.MAY_STORE, "orderId=N1")


def valid_chunked_with_extensions_and_trailers(t: Target) -> Case:
    return _case("valid_chunked",
                 head("PUT", "/hooks", [("Authorization", f"Bearer {t.token}"), ("Transfer-Encoding", "chunked")])
                 + b"5;ext=1\r\norder\r\n5\r\nId=N1\r\n0\r\nX-Trailer: done\r\n\r\n",
                 Ending.READ, Expect.STORE, "orderId=N1")


def valid_then_half_close(t: Target) -> Case:
    body = '{"orderId": "N1", "name": "Jürgen €"}'.encode()
    return _case("valid_then_half_close",
                 head("POST", f"/hooks/{t.token}", [("Content-Type", "application/json"),
                                                    ("Content-Length", str(len(body)))]) + body,
                 Ending.HALF_CLOSE, Expect.STORE, body.decode())


def valid_slow_sender(t: Target) -> Case:
    wire = head("POST", f"/hooks/{t.token}", [("Content-Length", "43")])
    wire += b"orderId=N1&status=delivered&total=120.13&x"
    wire += b"1"
    return dribble(_case("valid_slow", wire, Ending.READ, Expect.STORE,
                         "orderId=N1&status=delivered&total=120.13&x1"), random.Random(0))


def valid_chunked_body_of_exactly_the_limit(t: Target) -> Case:
    body = b"z" * LIMIT
    return _case("valid_at_the_limit", head("POST", f"/hooks/{t.token}", [("Transfer-Encoding", "chunked")])
                 + chunked(body, random.Random(0)), Ending.READ, Expect.STORE, body.decode())


REFUSED = frozenset({400, None})
NAMED: dict[str, Named] = {
    "Content-Length 100 with a 10-byte body then half-close: never stored, 400 or no answer":
        Named(short_body_half_close, REFUSED),
    "Content-Length 100 with a 10-byte body then hang-up: never stored": Named(short_body_hang_up, REFUSED),
    "chunked body cut mid-chunk then half-close: 400 or no answer, no 5xx, token not logged":
        Named(chunk_cut_mid_chunk, REFUSED),
    "chunk size 'zz' (not hex): 400, token not logged": Named(chunk_size_not_hex, REFUSED),
    "chunked body without its last chunk then half-close: 400 or no answer": Named(chunked_without_last_chunk, REFUSED),
    "chunk data not followed by CRLF: 400": Named(chunk_without_crlf, REFUSED),
    "Content-Length and Transfer-Encoding together: 400 and the smuggled request is never stored":
        Named(length_and_chunked_with_smuggled_request, frozenset({400, None})),
    "two different Content-Length headers: 400": Named(two_content_lengths, REFUSED),
    "unknown transfer coding: a 4xx, not a 5xx": Named(unknown_transfer_coding, frozenset({400, 411, None})),
    "body without Content-Length or Transfer-Encoding then half-close: an empty POST, 400":
        Named(body_without_length, REFUSED),
    "hang-up in the middle of the headers: nothing stored": Named(hang_up_in_the_headers, REFUSED),
    "request line without HTTP version: 400 and the token it holds is not logged":
        Named(request_line_without_version, REFUSED),
    "obs-fold header: 400, or stored exactly": Named(folded_header, frozenset({200, 400})),
    "70,000-byte header: 431 or 400, or stored exactly": Named(huge_header, frozenset({200, 400, 431, None})),
    "150 headers: 431 or 400, or stored exactly": Named(many_headers, frozenset({200, 400, 431})),
    "body longer than Content-Length: only the declared 10 bytes are stored": Named(body_longer_than_content_length,
                                                                                   frozenset({200, 400})),
    "valid chunked PUT with chunk extensions and a trailer: stored exactly":
        Named(valid_chunked_with_extensions_and_trailers, frozenset({200})),
    "valid request then half-close: still answered and stored": Named(valid_then_half_close, frozenset({200})),
    "valid request from a slow sender (dribbled bytes): stored exactly": Named(valid_slow_sender, frozenset({200})),
    "chunked body of exactly the stream's limit: stored whole": Named(valid_chunked_body_of_exactly_the_limit,
                                                                     frozenset({200})),
}


@pytest.mark.parametrize("name", NAMED)
def test_named_framing_case(name: str, emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    named = NAMED[name]
    served = serve(emulator, start_stream_service, f"named_{list(NAMED).index(name)}")
    case = named.build(served.target)
    outcome = send_case(served.service.port, case)
    # The fault really went out as written: every byte sent, the connection ended as the case says.
    assert (outcome.bytes_sent, outcome.send_error) == (len(case.wire), None) or case.fault == "huge_header"
    verdict = finish(served, emulator, [outcome])
    assert outcome.status in named.allowed, f"{name}: answered {outcome.status} {outcome.answer!r}\n{report(verdict)}"
    assert verdict.passed, f"{name}:\n{report(verdict)}"
