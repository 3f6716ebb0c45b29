"""What a sender can do at the HTTP framing level, against a real gunicorn and the BigQuery emulator.

curl and Flask's test client cannot lie about a body's length, break chunked framing or stall
mid-request, so these tests write raw bytes to a socket. Each checks what the sender is answered, that
the table holds no row for a refused request, and that the endpoint secret never reaches the logs.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass

import pytest
import requests

from service.model.auth_settings import NoAuth, TokenAuth
from service.model.stream import MAX_BODY_LIMIT, Stream
from tests.barrage.framing import Case, Ending, Expect, Piece
from tests.barrage.framing_barrage import send_case
from tests.conftest import Emulator, RunningService, ServiceFactory

pytestmark = pytest.mark.integration

TOKEN = "framing-test-token-0123456789abcdef"
# Longer than any bound the service is allowed to take for these requests; the old code never answered.
PATIENCE_SECONDS = 15.0


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: the connection closed without an HTTP answer
    body: bytes

    @property
    def error_code(self) -> str | None:
        try:
            return str(json.loads(self.body)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None


def exchange(port: int, *parts: bytes, half_close: bool = True) -> Answer:
    """Send `parts` on a new connection, optionally half-close, then read the answer (the barrage's sender)."""
    case = Case(0, "hardening", tuple(Piece(part) for part in parts),
                Ending.HALF_CLOSE if half_close else Ending.READ, Expect.REFUSE, None)
    outcome = send_case(port, case, timeout=PATIENCE_SECONDS)
    # A hang is a failure here, never "closed without an answer": the old code never answered these.
    assert not outcome.timed_out, f"no answer and no close within {PATIENCE_SECONDS} s"
    return Answer(outcome.status, outcome.answer)


def rows_of(emulator: Emulator, stream: Stream) -> list[dict[str, object]]:
    return emulator.query(f"SELECT hit_id, payload FROM `{emulator.project}.{stream.table_ref}`")


def service_log(service: RunningService) -> str:
    return service.process.log_path.read_text(errors="replace")


def token_stream(table: str, max_body_bytes: int = 1000) -> Stream:
    return Stream(name=table.replace("_", "-")[:20].rstrip("-"), dataset="framing", table=table, auth=TokenAuth(),
                  max_body_bytes=max_body_bytes)


@pytest.mark.parametrize("auth", [TokenAuth(), NoAuth()], ids=["token", "none"])
def test_a_body_shorter_than_its_content_length_is_refused_and_never_stored(
        emulator: Emulator, start_stream_service: ServiceFactory, auth: TokenAuth | NoAuth) -> None:
    stream = Stream(name=f"short-{auth.mode}", dataset="framing", table=f"short_{auth.mode}", auth=auth)
    service = start_stream_service(stream, secrets=(TOKEN,))
    path = f"/hooks/{TOKEN}" if auth.mode == "token" else "/hooks"
    # Ten bytes of a promised hundred, then the sender half-closes (it hung up mid-body).
    answer = exchange(service.port, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode(),
                      b"orderId=N1")
    assert (answer.status, answer.error_code) == (400, "incomplete_body"), answer
    assert b"10 of the 100 bytes" in answer.body
    # The whole body, sent properly, is stored: the service was able to write all along.
    whole = exchange(service.port, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                                   "Connection: close\r\n\r\norderId=N1".encode())
    assert whole.status == 200, whole
    assert [row["payload"] for row in rows_of(emulator, stream)] == ["orderId=N1"]


@pytest.mark.parametrize(
    ("name", "chunks"),
    [
        ("bad-size", [b"zz\r\norderId=N1\r\n0\r\n\r\n"]),
        ("bad-end", [b"a\r\norderId=N1XY0\r\n\r\n"]),
        ("ends-mid-chunk", [b"64\r\norderId=N1"]),  # promises 100 bytes, sends 10, half-closes
    ],
)
def test_broken_chunked_framing_is_a_400_no_row_and_no_path_in_the_logs(
        emulator: Emulator, start_stream_service: ServiceFactory, name: str, chunks: list[bytes]) -> None:
    stream = token_stream(f"chunked_{name.replace('-', '_')}")
    service = start_stream_service(stream, secrets=(TOKEN,))
    head = f"POST /hooks/{TOKEN} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    answer = exchange(service.port, head, *chunks)
    assert answer.status == 400, answer
    assert answer.error_code in ("body_unreadable", None), answer  # None: gunicorn's own 400 page
    # A well-formed chunked hit afterwards is stored whole.
    good = exchange(service.port, head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"),
                    b"a\r\norderId=N1\r\n0\r\n\r\n")
    assert good.status == 200, good
    assert [row["payload"] for row in rows_of(emulator, stream)] == ["orderId=N1"]
    log = service_log(service)
    assert TOKEN not in log
    assert "Exception on" not in log and "Traceback" not in log


@pytest.mark.parametrize(
    ("kind", "character"),
    [("control-characters", "\x01"), ("emoji", "\N{GRINNING FACE}"), ("quotes", '"')],
)
def test_every_body_within_the_limit_is_stored_whatever_its_bytes(
        emulator: Emulator, start_stream_service: ServiceFactory, kind: str, character: str) -> None:
    # A body at the largest limit a stream may have, made of the characters JSON escapes the most.
    stream = Stream(name=f"big-{kind}"[:20].rstrip("-"), dataset="framing", table=f"big_{kind.replace('-', '_')}",
                    auth=TokenAuth(), max_body_bytes=MAX_BODY_LIMIT)
    service = start_stream_service(stream, secrets=(TOKEN,))
    per_character = len(character.encode())
    body = (character * (MAX_BODY_LIMIT // per_character)).encode()
    assert MAX_BODY_LIMIT - per_character < len(body) <= MAX_BODY_LIMIT
    response = requests.post(f"{service.hooks_url}/{TOKEN}", data=body, timeout=60)
    assert response.status_code == 200, response.text
    rows = rows_of(emulator, stream)
    assert [row["hit_id"] for row in rows] == [response.json()["hit_id"]]
    assert str(rows[0]["payload"]).encode() == body


def test_the_token_in_the_path_is_checked_before_the_body_is_read(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    stream = token_stream("token_first")
    service = start_stream_service(stream, secrets=(TOKEN,))
    # Headers only: a stranger announces a body and never sends it. The wrong token is enough to answer.
    answer = exchange(service.port, b"POST /hooks/not-the-token-0123456789 HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: 1000\r\n\r\n", half_close=False)
    assert (answer.status, answer.error_code) == (401, "bad_token"), answer
    assert rows_of(emulator, stream) == []


def test_a_slow_sender_is_cut_off_and_cannot_hold_the_instance(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    stream = token_stream("slow_sender")
    # One thread: if a stalled request held it, nothing else would be served.
    service = start_stream_service(stream, secrets=(TOKEN,), threads=1,
                                   spec_changes={"read_timeout_seconds": 1.0})
    # Half a request line, then silence.
    stalled_headers = exchange(service.port, b"POST /hooks/" + TOKEN.encode(), half_close=False)
    assert stalled_headers.status is None, stalled_headers  # the connection is closed, nothing stored
    # Complete headers, a tenth of the body, then silence.
    stalled_body = exchange(service.port, f"POST /hooks/{TOKEN} HTTP/1.1\r\nHost: x\r\n"
                                          "Content-Length: 100\r\n\r\norderId=N1".encode(), half_close=False)
    assert (stalled_body.status, stalled_body.error_code) == (408, "body_timeout"), stalled_body
    # The one thread is free again.
    served = requests.post(f"{service.hooks_url}/{TOKEN}", data=b"orderId=N2", timeout=PATIENCE_SECONDS)
    assert served.status_code == 200, served.text
    assert [row["payload"] for row in rows_of(emulator, stream)] == ["orderId=N2"]
    assert TOKEN not in service_log(service)


def test_malformed_request_lines_and_headers_never_put_the_token_in_the_logs(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    stream = token_stream("log_hygiene")
    service = start_stream_service(stream, secrets=(TOKEN,))
    token = TOKEN.encode()
    requests_sent = [
        b"POST /hooks/" + token + b"?orderId=N1 HTTP/1.1 extra\r\nHost: x\r\n\r\n",  # bad request line
        b"POST /hooks/" + token + b" HTTP/9.9\r\nHost: x\r\n\r\n",  # bad version
        b"POST /hooks/" + token + b" HTTP/1.1\r\nHost: x\r\nBad Header: " + token + b"\r\n\r\n",
        b"POST /hooks/" + token + b" HTTP/1.1\r\nHost: x\r\n folded: " + token + b"\r\n\r\n",
        b"P\x00ST /hooks/" + token + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /hooks/" + token + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde",
    ]
    statuses = [exchange(service.port, raw).status for raw in requests_sent]
    assert all(status is None or 400 <= status < 500 for status in statuses), statuses
    assert rows_of(emulator, stream) == []
    assert requests.get(f"{service.base_url}/health", timeout=10).status_code == 200
    assert TOKEN not in service_log(service)


def test_strangers_dribbling_bodies_cannot_hold_the_threads(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    """Twice the threads of connections that announce a body with a wrong token, then dribble it: each is
    refused at once and its connection closed without a thread draining the body, so a legitimate hit is
    stored and answered meanwhile."""
    threads = 4
    stream = token_stream("dribbling_strangers")
    service = start_stream_service(stream, secrets=(TOKEN,), threads=threads)
    strangers = []
    for _ in range(2 * threads):
        stranger = socket.create_connection(("127.0.0.1", service.port), timeout=PATIENCE_SECONDS)
        stranger.sendall(b"POST /hooks/not-the-token-0123456789 HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 100000\r\n\r\norderId=")
        strangers.append(stranger)
    stop = threading.Event()

    def dribble() -> None:  # a byte every 0.3 s on every connection still open, for longer than any drain
        while not stop.wait(0.3):
            for stranger in strangers:
                with contextlib.suppress(OSError):
                    stranger.send(b"a")

    dribbler = threading.Thread(target=dribble)
    dribbler.start()
    try:
        time.sleep(1.0)  # the strangers' requests reached the threads
        started = time.monotonic()
        served = requests.post(f"{service.hooks_url}/{TOKEN}", data=b"orderId=N1", timeout=PATIENCE_SECONDS)
        legitimate_seconds = time.monotonic() - started
        answers = [read_until_closed(stranger, seconds=4.0) for stranger in strangers]
    finally:
        stop.set()
        dribbler.join()
        for stranger in strangers:
            stranger.close()
    print(f"\n[dribbling strangers] held={len(strangers)} threads={threads} "
          f"legitimate_answer_seconds={legitimate_seconds:.3f}")
    assert served.status_code == 200, served.text
    assert legitimate_seconds < 2.0, f"the legitimate hit waited {legitimate_seconds:.1f} s for a thread"
    assert [row["payload"] for row in rows_of(emulator, stream)] == ["orderId=N1"]
    for answer, closed in answers:
        assert answer.startswith(b"HTTP/1.1 401"), answer[:80]
        assert b"connection: close" in answer.lower(), answer  # said, and done:
        assert closed, "the server kept the connection open, draining the stranger's body"


def read_until_closed(sock: socket.socket, seconds: float) -> tuple[bytes, bool]:
    """What the server sent, and whether it closed the connection within `seconds`."""
    sock.settimeout(0.2)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return received, True  # reset after the answer: closed
        if not data:
            return received, True
        received += data
    return received, False


def test_strangers_sending_headers_a_byte_at_a_time_cannot_hold_the_threads(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    """Twice the threads of connections that send a partial header block and then a byte every 0.3 s,
    for longer than the read timeout: none of them gets a thread before its headers are complete, each is
    closed when the headers' deadline passes, and a legitimate hit is stored and answered meanwhile."""
    threads = 4
    stream = token_stream("dribbling_headers")
    service = start_stream_service(stream, secrets=(TOKEN,), threads=threads,
                                   spec_changes={"read_timeout_seconds": 2.0})
    strangers = []
    for _ in range(2 * threads):
        stranger = socket.create_connection(("127.0.0.1", service.port), timeout=PATIENCE_SECONDS)
        stranger.sendall(b"POST /hooks/" + TOKEN.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        strangers.append(stranger)
    stop = threading.Event()

    def dribble() -> None:
        while not stop.wait(0.3):
            for stranger in strangers:
                with contextlib.suppress(OSError):
                    stranger.send(b"a")

    dribbler = threading.Thread(target=dribble)
    dribbler.start()
    try:
        time.sleep(0.5)
        started = time.monotonic()
        served = requests.post(f"{service.hooks_url}/{TOKEN}", data=b"orderId=N1", timeout=PATIENCE_SECONDS)
        legitimate_seconds = time.monotonic() - started
        # Held past the read timeout: the headers' deadline is total, whatever the pace of the bytes.
        ends = [read_until_closed(stranger, seconds=5.0) for stranger in strangers]
    finally:
        stop.set()
        dribbler.join()
        for stranger in strangers:
            stranger.close()
    print(f"\n[dribbling headers] held={len(strangers)} threads={threads} "
          f"legitimate_answer_seconds={legitimate_seconds:.3f}")
    assert served.status_code == 200, served.text
    assert legitimate_seconds < 1.0, f"the legitimate hit waited {legitimate_seconds:.1f} s for a thread"
    assert [row["payload"] for row in rows_of(emulator, stream)] == ["orderId=N1"]
    assert all(closed and not answer for answer, closed in ends), "a dribbling connection was kept open"
