"""Nothing acknowledged is lost: concurrent load on a real gunicorn + BigQuery emulator, under faults.

Each test drives bounded load from threads on 127.0.0.1 while it breaks something (the emulator
stops and restarts, turns slow, rejects rows, a worker gets SIGTERM), then compares the hit_ids that
were answered 2xx with the rows in the table: every acknowledged hit must be there exactly once.
The emulator here is this module's own (it gets stopped and frozen); between it and the service sits
a small HTTP proxy that can add delay or answer insertAll with per-row errors, as BigQuery would.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests

from service.model.auth_settings import NoAuth
from service.model.service_env import BIGQUERY_EMULATOR_HOST, ServiceSpec, to_env
from service.model.stream import Stream
from service.runtime.bigquery_client import make_client
from tests.runtime.fault_parts import BigQueryProxy, after, worker_pids
from tools.local.processes import Process, free_port, start_emulator, start_service
from tools.local.provision import provision

pytestmark = pytest.mark.integration

PROJECT = "hookstream-faults"
POISON = "POISON"
LOAD_THREADS = 12
DEADLINE_SECONDS = 8.0  # long enough to ride out an emulator restart, shorter than gunicorn's timeout


# -- the emulator, restartable on its own ports and data -----------------------------------------

class RestartableEmulator:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.rest_port, self.grpc_port = free_port(), free_port()
        self.process: Process | None = None
        self.url = ""
        self.start()
        self.client = make_client(PROJECT, self.url)

    def start(self) -> None:
        self.process, self.url = start_emulator(self.root / "data", PROJECT, self.rest_port, self.grpc_port,
                                                self.root / "emulator.log")

    def stop(self) -> None:
        assert self.process is not None
        self.process.stop()

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.kill(self.process.popen.pid, signum)  # our own child, by PID

    def rows_per_hit(self, stream: Stream) -> Counter[str]:
        sql = f"SELECT hit_id, COUNT(*) AS n FROM `{PROJECT}.{stream.table_ref}` GROUP BY hit_id"
        rows = self.client.query(sql, timeout=30).result(timeout=60)
        return Counter({row["hit_id"]: row["n"] for row in rows})


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableEmulator]:
    emulator = RestartableEmulator(tmp_path_factory.mktemp("faults-emulator"))
    yield emulator
    emulator.client.close()
    emulator.stop()


# -- a proxy in front of the emulator that can be slow or reject rows -----------------------------

class InsertAllProxy(BigQueryProxy):
    """`delay_seconds` slows every request; insertAll requests holding a POISON payload are answered like
    BigQuery answers an invalid row: that row "invalid", the others of the request "stopped" (not written)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.delay_seconds = 0.0
        self.poisoned_requests = 0
        self.slowest_insert_seconds = 0.0  # what a stalled warehouse looked like from the service

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        started = time.monotonic()
        try:
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
            super().forward(handler)
        finally:
            if self.is_insert_all(handler):
                self.slowest_insert_seconds = max(self.slowest_insert_seconds, time.monotonic() - started)

    def intercept(self, body: bytes) -> tuple[int, bytes] | None:
        rows = json.loads(body).get("rows", [])
        if not any(POISON in row["json"]["payload"] for row in rows):
            return None
        self.poisoned_requests += 1
        errors = [{"index": index, "errors": [
            {"reason": "invalid", "message": "no such field: poison"} if POISON in row["json"]["payload"]
            else {"reason": "stopped", "message": ""}]} for index, row in enumerate(rows)]
        return 200, json.dumps({"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": errors}).encode()


@pytest.fixture
def proxy(emulator: RestartableEmulator) -> Iterator[InsertAllProxy]:
    proxy = InsertAllProxy(emulator.url)
    yield proxy
    proxy.close()


# -- the service, and the load -----------------------------------------------------------------

@pytest.fixture
def serve(emulator: RestartableEmulator, tmp_path: Path) -> Iterator[Callable[..., tuple[Stream, Process, str]]]:
    started: list[Process] = []

    def start(name: str, bigquery_url: str, workers: int = 1) -> tuple[Stream, Process, str]:
        stream = Stream(name=name, dataset="faults", table=name.replace("-", "_"), auth=NoAuth())
        provision(emulator.client, [stream], PROJECT)
        spec = replace(ServiceSpec.of(stream, PROJECT), threads=16, write_deadline_seconds=DEADLINE_SECONDS)
        env = {**to_env(spec), BIGQUERY_EMULATOR_HOST: bigquery_url}
        port = free_port()
        process = start_service(name, env, port, tmp_path / f"{name}.log", workers=workers)
        started.append(process)
        return stream, process, f"http://127.0.0.1:{port}/hooks"

    yield start
    for process in started:
        process.stop()


@dataclass
class Load:
    sent: int = 0
    acknowledged: dict[str, str] = field(default_factory=dict)  # hit_id -> payload
    refused: Counter[int] = field(default_factory=Counter)  # status -> count
    refused_payloads: list[str] = field(default_factory=list)
    connection_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_load(url: str, seconds: float, fault: Callable[[], None], payload_for: Callable[[int, int], str],
             max_per_thread: int = 2000) -> Load:
    """LOAD_THREADS senders for `seconds` (at most `max_per_thread` requests each) while `fault` runs."""
    load = Load()
    stop_at = time.monotonic() + seconds

    def sender(number: int) -> None:
        session = requests.Session()
        for index in range(max_per_thread):
            if time.monotonic() >= stop_at:
                break
            payload = payload_for(number, index)
            try:
                response = session.post(url, data=payload, timeout=DEADLINE_SECONDS + 10,
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
            except requests.RequestException:
                with load.lock:
                    load.sent += 1
                    load.connection_errors += 1
                session.close()
                session = requests.Session()
                continue
            with load.lock:
                load.sent += 1
                if 200 <= response.status_code < 300:
                    load.acknowledged[response.json()["hit_id"]] = payload
                else:
                    load.refused[response.status_code] += 1
                    load.refused_payloads.append(payload)
        session.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    try:
        fault()
    finally:
        for thread in threads:
            thread.join(seconds + 2 * DEADLINE_SECONDS + 15)
    assert not any(thread.is_alive() for thread in threads)
    return load


def form_body(number: int, index: int) -> str:
    return f"orderId=N{number}-{index}&status=delivered&total=120.13&userId=U{number}"


def check_every_acknowledged_hit_once(name: str, emulator: RestartableEmulator, stream: Stream,
                                      load: Load) -> Counter[str]:
    found = emulator.rows_per_hit(stream)
    acknowledged = load.acknowledged
    missing = [hit for hit in acknowledged if found[hit] == 0]
    duplicated = {hit: found[hit] for hit in acknowledged if found[hit] > 1}
    unacknowledged_rows = sum(n for hit, n in found.items() if hit not in acknowledged)
    print(f"\n[{name}] sent={load.sent} acknowledged={len(acknowledged)} "
          f"refused={dict(load.refused)} connection_errors={load.connection_errors} "
          f"rows_found={sum(found.values())} acknowledged_missing={len(missing)} "
          f"acknowledged_duplicated={len(duplicated)} rows_of_unacknowledged_hits={unacknowledged_rows}")
    assert acknowledged, "the load got no 2xx at all: the test proved nothing"
    assert not missing, f"{len(missing)} acknowledged hits are not in the table"
    assert not duplicated, f"acknowledged hits stored more than once: {duplicated}"
    return found


def write_troubles(process: Process) -> int:
    """How many BigQuery calls the service logged as retried or failed: proof that a fault reached it."""
    lines = process.log_path.read_text().splitlines()
    return sum(1 for line in lines if '"bigquery call retried"' in line or '"bigquery write failed"' in line)


# -- the faults ----------------------------------------------------------------------------------

def test_emulator_stopped_and_restarted_mid_load(emulator: RestartableEmulator, serve: Any) -> None:
    stream, service, url = serve("faults-restart", emulator.url)

    def fault() -> None:
        after(1.0)
        emulator.stop()  # connections refused: the sink retries within the deadline
        after(1.0)
        emulator.start()  # same ports, same data directory

    load = run_load(url, 6.0, fault, form_body)
    assert write_troubles(service) > 0, "no write failed or was retried: the outage never reached the service"
    check_every_acknowledged_hit_once("emulator restart", emulator, stream, load)


def test_slow_and_frozen_emulator(emulator: RestartableEmulator, proxy: InsertAllProxy, serve: Any) -> None:
    stream, _, url = serve("faults-slow", proxy.url)

    def fault() -> None:
        after(1.0)
        proxy.delay_seconds = 0.4  # every BigQuery call takes 0.4 s longer
        after(1.5)
        proxy.delay_seconds = 0.0
        emulator.signal(signal.SIGSTOP)  # frozen: calls hang, then it answers them all
        after(1.5)
        emulator.signal(signal.SIGCONT)

    try:
        load = run_load(url, 6.0, fault, form_body)
    finally:
        emulator.signal(signal.SIGCONT)
    # The freeze held at least one write for most of its 1.5 s (a lower bound: a busy machine only adds).
    assert proxy.slowest_insert_seconds >= 1.0, proxy.slowest_insert_seconds
    check_every_acknowledged_hit_once("slow emulator", emulator, stream, load)


def test_rows_bigquery_rejects_fail_only_their_own_requests(emulator: RestartableEmulator,
                                                            proxy: InsertAllProxy, serve: Any) -> None:
    stream, _, url = serve("faults-poison", proxy.url)

    def poison_every_seventh(number: int, index: int) -> str:
        body = form_body(number, index)
        return body + f"&note={POISON}" if index % 7 == 3 else body

    load = run_load(url, 3.0, lambda: None, poison_every_seventh)
    assert proxy.poisoned_requests > 0  # the fault happened: BigQuery rejected rows
    found = check_every_acknowledged_hit_once("per-row errors", emulator, stream, load)
    # Every poisoned hit was refused as a row that can never be stored (422: a retry cannot help), and every
    # other one was stored and acknowledged.
    assert all(POISON not in payload for payload in load.acknowledged.values())
    assert set(load.refused) == {422}
    assert all(POISON in payload for payload in load.refused_payloads)
    assert load.connection_errors == 0
    assert sum(found.values()) == len(load.acknowledged)


def test_sigterm_to_a_worker_mid_load(emulator: RestartableEmulator, serve: Any) -> None:
    stream, master, url = serve("faults-sigterm", emulator.url, workers=2)
    workers = worker_pids(master)
    assert len(workers) == 2

    def fault() -> None:
        after(1.5)
        os.kill(workers[0], signal.SIGTERM)  # a worker of the gunicorn we started, by PID

    load = run_load(url, 4.0, fault, form_body)
    assert workers[0] not in worker_pids(master)  # the fault happened: it went away (gunicorn started another)
    check_every_acknowledged_hit_once("worker SIGTERM", emulator, stream, load)
