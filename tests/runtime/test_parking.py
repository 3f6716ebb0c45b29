"""A hit waiting for its row's verdict holds no gunicorn thread (service/runtime/parking.py).

Real gunicorn with two threads, the emulator behind a proxy that holds the first insertAll: the hits sent
meanwhile are all taken in, queued together, and each answered only once its own row is stored.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from service.model.auth_settings import NoAuth
from service.model.service_env import BIGQUERY_EMULATOR_HOST
from service.model.stream import Stream
from tests.conftest import Emulator, RunningService, ServiceFactory
from tests.runtime.fault_parts import BigQueryProxy, after, worker_pids

LATER_HITS = 12


class FirstInsertHeld(BigQueryProxy):
    """Holds the first insertAll until `release` is set; forwards everything else at once."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.first_held = threading.Event()
        self.release = threading.Event()

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        if self.is_insert_all(handler) and not self.first_held.is_set():
            self.first_held.set()
            self.release.wait(30)
        super().forward(handler)


Answers = dict[int, tuple[int, dict[str, Any]]]


@pytest.fixture
def proxy(emulator: Emulator) -> Iterator[FirstInsertHeld]:
    proxy = FirstInsertHeld(emulator.url)
    yield proxy
    proxy.release.set()
    proxy.close()


def post(url: str, body: bytes, answers: Answers, number: int) -> None:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answers[number] = (response.status, json.loads(response.read()))


def send_behind_a_held_call(service: RunningService, proxy: FirstInsertHeld, count: int,
                            prefix: str) -> tuple[list[threading.Thread], Answers]:
    """Hit `prefix`0 first, and once BigQuery holds its call, the other `count` - 1 hits, each from its own thread."""
    answers: Answers = {}
    senders = [threading.Thread(target=post, args=(service.hooks_url, f"orderId={prefix}{n}".encode(), answers, n))
               for n in range(count)]
    senders[0].start()
    assert proxy.first_held.wait(15), "the first hit's insertAll never reached BigQuery"
    for sender in senders[1:]:
        sender.start()
    return senders, answers


def test_hits_waiting_for_bigquery_hold_no_thread_and_are_answered_once_stored(
        emulator: Emulator, start_stream_service: ServiceFactory, proxy: FirstInsertHeld) -> None:
    stream = Stream(name="parking", dataset="parking", table="hits", auth=NoAuth())
    service = start_stream_service(stream, threads=2, extra_env={BIGQUERY_EMULATOR_HOST: proxy.url})
    senders, answers = send_behind_a_held_call(service, proxy, LATER_HITS + 1, "P")
    # BigQuery holds the first call: nothing is stored yet, so nothing may be answered yet.
    after(1.5)
    assert answers == {}
    proxy.release.set()
    for sender in senders:
        sender.join(30)
    assert sorted(answers) == list(range(LATER_HITS + 1))
    assert {status for status, _ in answers.values()} == {200}
    hit_ids = {body["hit_id"] for _, body in answers.values()}
    assert len(hit_ids) == LATER_HITS + 1
    stored = emulator.query(f"SELECT hit_id, payload FROM `{emulator.project}.{stream.table_ref}`")
    assert {row["hit_id"] for row in stored} == hit_ids
    assert sorted(row["payload"] for row in stored) == sorted(f"orderId=P{n}" for n in range(LATER_HITS + 1))
    # With two threads, a server that held a thread per waiting hit could have taken in one more hit while
    # the first call was held; here every hit sent meanwhile went into the next call.
    with urllib.request.urlopen(f"{service.base_url}/metrics", timeout=10) as response:
        sink = json.loads(response.read())["sink"]
    assert sink["batch_rows"]["max"] == LATER_HITS
    assert sink["write_calls"] == 2


def read_response(connection: socket.socket) -> tuple[bytes, dict[str, str], bytes]:
    """One HTTP/1.x response off the socket: status line, headers, a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        assert chunk, f"connection closed before a whole response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {name.decode().lower(): value.decode().strip()
               for name, _, value in (line.partition(b":") for line in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = connection.recv(4096)
        assert chunk
        body += chunk
    return status, headers, body


def hit_request(number: int, version: str = "HTTP/1.1", extra: str = "") -> bytes:
    body = f"orderId=K{number}"
    return (f"POST /hooks {version}\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n{body}").encode()


def test_a_kept_alive_connection_carries_parked_hits_one_after_another_until_it_asks_to_close(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    stream = Stream(name="parking-keepalive", dataset="parking", table="keepalive", auth=NoAuth())
    service = start_stream_service(stream, threads=2)
    hit_ids = []
    with socket.create_connection(("127.0.0.1", service.port), timeout=15) as connection:
        for number in range(3):
            connection.sendall(hit_request(number))
            status, headers, body = read_response(connection)
            assert status == b"HTTP/1.1 200 OK", (status, body)
            assert headers["connection"] == "keep-alive"
            hit_ids.append(json.loads(body)["hit_id"])
        connection.sendall(hit_request(3, extra="Connection: close\r\n"))
        status, headers, body = read_response(connection)
        assert status == b"HTTP/1.1 200 OK" and headers["connection"] == "close"
        hit_ids.append(json.loads(body)["hit_id"])
        assert connection.recv(1) == b""  # and the server closed it
    with socket.create_connection(("127.0.0.1", service.port), timeout=15) as connection:
        connection.sendall(hit_request(4, version="HTTP/1.0"))
        status, headers, body = read_response(connection)
        assert status.startswith(b"HTTP/1.") and b" 200 " in status
        hit_ids.append(json.loads(body)["hit_id"])
        assert connection.recv(1) == b""  # HTTP/1.0 without keep-alive: closed after the answer
    stored = emulator.query(f"SELECT hit_id, payload FROM `{emulator.project}.{stream.table_ref}`")
    assert {row["hit_id"]: row["payload"] for row in stored} == {
        hit_id: f"orderId=K{number}" for number, hit_id in enumerate(hit_ids)}


def test_a_worker_stopping_with_hits_still_parked_answers_them_once_stored(
        emulator: Emulator, start_stream_service: ServiceFactory, proxy: FirstInsertHeld) -> None:
    # gunicorn gives a stopping worker graceful_timeout (8 s) for requests in flight; BigQuery answers later
    # than that here, after the worker's main loop has ended: the answers must still go out, each after its row.
    stream = Stream(name="parking-stop", dataset="parking", table="stopping", auth=NoAuth())
    service = start_stream_service(stream, threads=2, extra_env={BIGQUERY_EMULATOR_HOST: proxy.url})
    senders, answers = send_behind_a_held_call(service, proxy, 3, "S")
    after(0.5)
    worker = worker_pids(service.process)[0]
    os.kill(worker, signal.SIGTERM)  # the worker of the gunicorn this test started, by PID
    after(9.0)  # past graceful_timeout, within the write deadline (10 s)
    assert answers == {}  # nothing answered while nothing was stored
    assert Path(f"/proc/{worker}").exists()  # the worker is stopping, still holding the parked hits
    proxy.release.set()
    for sender in senders:
        sender.join(30)
    assert sorted(answers) == [0, 1, 2]
    for _ in range(100):  # and it did stop: the fault happened
        if worker not in worker_pids(service.process):
            break
        after(0.1)
    assert worker not in worker_pids(service.process)
    stored = {row["hit_id"] for row in emulator.query(
        f"SELECT hit_id FROM `{emulator.project}.{stream.table_ref}`")}
    for status, body in answers.values():
        assert status == 200 and body["hit_id"] in stored
    assert len(stored) == 3
