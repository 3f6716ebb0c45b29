"""Reading a hit's body within its time limit, with as few socket-timeout changes as that allows."""

from __future__ import annotations

import io

import pytest

from service.runtime.refusals import Rejected
from service.runtime.request_body import read_body


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class RecordingSocket:
    """What read_body sees of gunicorn's socket: its timeout, and every change made to it."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.changes: list[float | None] = []

    def gettimeout(self) -> float | None:
        return self.timeout

    def settimeout(self, value: float | None) -> None:
        self.changes.append(value)
        self.timeout = value


class DribblingBody(io.RawIOBase):
    """One byte per read, each taking `seconds_per_read` of the fake clock."""

    def __init__(self, data: bytes, clock: FakeClock, seconds_per_read: float) -> None:
        self._data, self._clock, self._seconds = data, clock, seconds_per_read

    def read(self, size: int = -1) -> bytes:
        self._clock.now += self._seconds
        piece, self._data = self._data[:1], self._data[1:]
        return piece


def test_a_body_that_arrives_at_once_needs_no_change_to_the_sockets_timeout() -> None:
    sock = RecordingSocket(timeout=10.0)  # gunicorn_worker's read timeout, the same setting
    environ = {"CONTENT_LENGTH": "10", "wsgi.input": io.BytesIO(b"orderId=N1"), "gunicorn.socket": sock}
    assert read_body(environ, 1000, timeout_seconds=10.0, clock=FakeClock()) == b"orderId=N1"
    assert sock.changes == []


def test_a_socket_without_a_timeout_gets_one_and_has_its_own_back_afterwards() -> None:
    sock = RecordingSocket(timeout=None)
    environ = {"CONTENT_LENGTH": "10", "wsgi.input": io.BytesIO(b"orderId=N1"), "gunicorn.socket": sock}
    assert read_body(environ, 1000, timeout_seconds=10.0, clock=FakeClock()) == b"orderId=N1"
    assert sock.changes == [10.0, None]


def test_a_dribbling_body_is_cut_off_at_its_deadline_and_the_timeout_is_restored() -> None:
    clock = FakeClock()
    sock = RecordingSocket(timeout=1.0)
    body = DribblingBody(b"orderId=N1&status=paid", clock, seconds_per_read=0.3)
    environ = {"CONTENT_LENGTH": "22", "wsgi.input": body, "gunicorn.socket": sock}
    with pytest.raises(Rejected) as refused:
        read_body(environ, 1000, timeout_seconds=1.0, clock=clock)
    assert (refused.value.status, refused.value.code) == (408, "body_timeout")
    # The first read kept the socket's 1 s; then each read was bounded by the time left, and the socket got
    # its own timeout back.
    assert sock.changes == pytest.approx([0.7, 0.4, 0.1, 1.0])
