"""Nothing acknowledged is lost, even by a sender that never retries: the spool and replay under faults.

Real parts throughout: the BigQuery emulator and a Cloud Storage emulator (fake-gcs-server, which
enforces create-only uploads), real gunicorn, the replay as its own process (`python -m
service.runtime.replay`, as the Cloud Run job runs it). The sender posts each hit once over a fresh
connection and writes every answer into a ledger. Each test first proves its fault happened (hits were
spooled, or refused), then, after recovery and replay: every hit answered 2xx is in the table exactly
once by hit_id, no hit answered 503 is in the table or the spool, and the spool is empty.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.log_metrics import SPOOLED, STORED
from service.model.auth_settings import NoAuth
from service.model.spool import spool_url
from service.model.stream import Stream
from service.runtime.replay import spool_status
from service.runtime.spool import SpoolLocation
from tests.logging_filter import cloud_run_entry, matches
from tests.runtime.fault_parts import BigQueryProxy, after, worker_pids
from tests.runtime.spool_parts import (
    BUCKET,
    DEADLINE_SECONDS,
    PROJECT,
    Emulators,
    finished,
    replay,
    replay_process,
    service_environment,
)
from tools.local.processes import Process, free_port, start_service
from tools.local.provision import provision

pytestmark = pytest.mark.integration

SENDERS = 6


@pytest.fixture(scope="module")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    emulators = Emulators(tmp_path_factory.mktemp("spool-emulators"))
    yield emulators
    emulators.client.close()
    for process in (emulators.bigquery, emulators.gcs):
        if process is not None:
            process.stop()


@dataclass
class Served:
    stream: Stream
    process: Process
    url: str


@pytest.fixture
def serve(emulators: Emulators, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Process] = []

    def start(name: str, bigquery_url: str | None = None, workers: int = 1, **spec_changes: Any) -> Served:
        stream = Stream(name=name, dataset="spool", table=name.replace("-", "_"), auth=NoAuth())
        provision(emulators.client, [stream], PROJECT)
        env = service_environment(emulators, stream, bigquery_url or emulators.bigquery_url, **spec_changes)
        port = free_port()
        process = start_service(name, env, port, tmp_path / f"{name}.log", workers=workers)
        started.append(process)
        return Served(stream, process, f"http://127.0.0.1:{port}/hooks")

    yield start
    for process in started:
        process.stop()


# -- the sender that never retries, and its ledger ------------------------------------------------

@dataclass
class Ledger:
    answers: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # payload, status, body
    connection_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged(self, status: str | None = None) -> dict[str, str]:
        """hit_id -> payload of the hits answered 2xx (with that body status, if given)."""
        return {body["hit_id"]: payload for payload, code, body in self.answers
                if 200 <= code < 300 and (status is None or body.get("status") == status)}

    def refused(self) -> list[str]:
        return [payload for payload, code, _ in self.answers if code == 503]

    def statuses(self) -> Counter[int]:
        return Counter(code for _, code, _ in self.answers)


def post_once(url: str, payload: str, ledger: Ledger) -> None:
    """One POST on a fresh connection; whatever happens, it is not sent again."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        connection.request("POST", parts.path, body=payload.encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        body = json.loads(response.read() or b"{}")
        with ledger.lock:
            ledger.answers.append((payload, response.status, body))
    except OSError:
        with ledger.lock:
            ledger.connection_errors += 1
    finally:
        connection.close()


def send_while(url: str, seconds: float, fault: Callable[[], None], tag: str, max_per_sender: int = 400) -> Ledger:
    ledger = Ledger()
    stop_at = time.monotonic() + seconds

    def sender(number: int) -> None:
        for index in range(max_per_sender):
            if time.monotonic() >= stop_at:
                return
            post_once(url, f"orderId={tag}-{number}-{index}&status=delivered&total=120.13", ledger)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    try:
        fault()
    finally:
        for thread in threads:
            thread.join(seconds + 90)
    assert not any(thread.is_alive() for thread in threads)
    return ledger


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue  # gunicorn's own start-up lines
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


# -- the verdict ----------------------------------------------------------------------------------

def check_nothing_lost(name: str, emulators: Emulators, stream: Stream, ledger: Ledger) -> None:
    rows = emulators.rows_per_hit(stream)
    acknowledged = ledger.acknowledged()
    refused = ledger.refused()
    left = emulators.spooled(stream)
    missing = [hit for hit in acknowledged if rows[hit] == 0]
    duplicates = {hit: n for hit, n in rows.items() if n > 1}
    payloads = emulators.payloads_in_table(stream)
    refused_stored = [p for p in refused if p in payloads]
    refused_spooled = [row for row in left.values() if row["payload"] in set(refused)]
    print(f"\n[{name}] sent={len(ledger.answers) + ledger.connection_errors} "
          f"2xx_stored={len(ledger.acknowledged('stored'))} 2xx_spooled={len(ledger.acknowledged('spooled'))} "
          f"503={len(refused)} other={dict(ledger.statuses())} connection_errors={ledger.connection_errors} "
          f"rows={sum(rows.values())} duplicates={len(duplicates)} left_in_spool={len(left)}")
    assert not missing, f"{len(missing)} hits answered 2xx are not in the table"
    assert not duplicates, f"hits stored more than once: {duplicates}"
    assert not refused_stored and not refused_spooled, "a hit answered 503 was stored or spooled"
    assert not left, f"{len(left)} hits are still in the spool"
    assert set(rows) <= set(acknowledged), "the table holds rows of hits nobody acknowledged"


# -- the faults -----------------------------------------------------------------------------------

def test_bigquery_stopped_longer_than_the_deadline(emulators: Emulators, serve: Any) -> None:
    served = serve("spool-stopped")

    def fault() -> None:
        after(1.0)
        emulators.stop_bigquery()
        after(3 * DEADLINE_SECONDS + 1.0)  # several deadlines long: hits must be spooled, not retried
        emulators.start_bigquery()

    ledger = send_while(served.url, 7.0, fault, "stopped")
    assert ledger.acknowledged("spooled"), "no hit was spooled: BigQuery was not down long enough"
    assert ledger.acknowledged("stored"), "no hit was stored before or after the outage"
    assert ledger.statuses()[503] == 0, "a hit was refused although the spool was up"
    run = replay(emulators, served.stream)
    assert run.returncode == 0, run.output
    assert run.report["inserted"] + run.report["already_in_table"] == len(ledger.acknowledged("spooled"))
    check_nothing_lost("BigQuery stopped", emulators, served.stream, ledger)
    # Cloud Logging's metrics count the spooled hits once each, apart from the stored ones.
    served.process.stop()  # all it logged is on disk
    log = [cloud_run_entry(entry, f"hookstream-{served.stream.name}") for entry in json_lines(served.process.log_path)]
    assert sum(matches(SPOOLED.filter, entry) for entry in log) == len(ledger.acknowledged("spooled"))
    assert sum(matches(STORED.filter, entry) for entry in log) == len(ledger.acknowledged("stored"))


def test_a_lone_sender_during_a_bigquery_stall_is_answered_within_the_answer_budget(emulators: Emulators,
                                                                                  serve: Any) -> None:
    # The write deadline (10 s, the default) is far longer than the budget: the budget alone decides.
    budget = 1.0
    served = serve("spool-stall", write_deadline_seconds=10.0, answer_budget_seconds=budget)
    warm = Ledger()
    post_once(served.url, "orderId=stall-warm&status=paid", warm)
    assert warm.acknowledged("stored"), warm.answers
    assert emulators.bigquery is not None
    pid = emulators.bigquery.popen.pid  # the emulator we started, by PID
    ledger = Ledger()
    elapsed: list[float] = []
    os.kill(pid, signal.SIGSTOP)  # frozen: calls neither fail nor answer
    try:
        for index in range(8):  # one status change at a time, as a CRM sends them
            started = time.monotonic()
            post_once(served.url, f"orderId=stall-{index}&status=delivered", ledger)
            elapsed.append(time.monotonic() - started)
            time.sleep(0.2)
    finally:
        os.kill(pid, signal.SIGCONT)
    print(f"\n[stall] answers={[code for _, code, _ in ledger.answers]} "
          f"seconds={[round(seconds, 2) for seconds in elapsed]}")
    assert len(ledger.acknowledged("spooled")) == 8, f"every hit is spooled during the stall: {ledger.answers}"
    assert max(elapsed) <= budget + 0.5, f"a sender waited {max(elapsed):.2f} s (budget {budget} s)"
    # Nothing answered 2xx is lost: each hit is in the table (its late write landed) or in the spool.
    deadline = time.monotonic() + 30
    while True:
        kept = set(emulators.rows_per_hit(served.stream)) | set(emulators.spooled(served.stream))
        if set(ledger.acknowledged()) <= kept or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert set(ledger.acknowledged()) <= kept


def test_table_deleted_then_reprovisioned(emulators: Emulators, serve: Any) -> None:
    served = serve("spool-deleted")
    # Deleted before the first hit: rows stored before a delete go with the table, whatever the service does.
    emulators.client.delete_table(f"{PROJECT}.{served.stream.table_ref}")  # insertAll: 404 not found

    def fault() -> None:
        after(2.0)
        provision(emulators.client, [served.stream], PROJECT)

    ledger = send_while(served.url, 5.0, fault, "deleted")
    assert ledger.acknowledged("spooled"), "no hit was spooled while the table was missing"
    assert ledger.statuses()[503] == 0
    run = replay(emulators, served.stream)
    assert run.returncode == 0, run.output
    check_nothing_lost("table deleted", emulators, served.stream, ledger)


class ForbiddingProxy(BigQueryProxy):
    """Answers insertAll with BigQuery's 403 while `forbid` is set (the emulator has no IAM): the point
    here is the service's answer to a revoked permission."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.forbid = False
        self.forbidden_calls = 0

    def intercept(self, body: bytes) -> tuple[int, bytes] | None:
        if not self.forbid:
            return None
        self.forbidden_calls += 1
        return 403, json.dumps({"error": {
            "code": 403, "status": "PERMISSION_DENIED",
            "message": "Access Denied: Permission bigquery.tables.updateData denied",
            "errors": [{"reason": "accessDenied", "message": "Access Denied"}]}}).encode()


def test_permission_denied(emulators: Emulators, serve: Any) -> None:
    proxy = ForbiddingProxy(emulators.bigquery_url)
    try:
        served = serve("spool-forbidden", proxy.url)

        def fault() -> None:
            after(1.0)
            proxy.forbid = True
            after(2.0)
            proxy.forbid = False

        ledger = send_while(served.url, 4.0, fault, "forbidden")
    finally:
        proxy.close()
    assert proxy.forbidden_calls > 0 and ledger.acknowledged("spooled"), "no write was refused and spooled"
    assert ledger.statuses()[503] == 0
    run = replay(emulators, served.stream)
    assert run.returncode == 0, run.output
    check_nothing_lost("permission denied", emulators, served.stream, ledger)


def test_bigquery_and_spool_both_down(emulators: Emulators, serve: Any) -> None:
    served = serve("spool-both-down")
    emulators.stop_bigquery()
    emulators.stop_gcs()
    try:
        ledger = Ledger()
        senders = [threading.Thread(target=post_once, args=(served.url, f"orderId=down-{index}&status=paid", ledger))
                   for index in range(12)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(120)
    finally:
        emulators.start_gcs()
        emulators.start_bigquery()
    assert ledger.statuses() == Counter({503: 12}), f"expected 12 x 503, got {ledger.statuses()}"
    run = replay(emulators, served.stream)
    assert run.returncode == 0 and run.report["listed"] == 0, run.output
    rows = emulators.rows_per_hit(served.stream)
    print(f"\n[both down] sent=12 503={ledger.statuses()[503]} rows={sum(rows.values())} "
          f"left_in_spool={len(emulators.spooled(served.stream))}")
    assert not rows, "a hit answered 503 reached the table"
    assert not emulators.spooled(served.stream), "a hit answered 503 is in the spool"


def test_sigterm_to_a_worker_while_spooling(emulators: Emulators, serve: Any) -> None:
    served = serve("spool-sigterm", workers=2)
    workers = worker_pids(served.process)
    assert len(workers) == 2
    # No table: every hit is spooled until it is provisioned again (deleted before the first hit, see above).
    emulators.client.delete_table(f"{PROJECT}.{served.stream.table_ref}")

    def fault() -> None:
        after(1.0)
        os.kill(workers[0], signal.SIGTERM)  # a worker of the gunicorn we started, by PID
        after(1.5)
        provision(emulators.client, [served.stream], PROJECT)

    ledger = send_while(served.url, 4.0, fault, "sigterm")
    assert workers[0] not in worker_pids(served.process), "the worker did not go away"
    assert ledger.acknowledged("spooled"), "no hit was spooled"
    assert ledger.statuses()[503] == 0
    run = replay(emulators, served.stream)
    assert run.returncode == 0, run.output
    check_nothing_lost("SIGTERM while spooling", emulators, served.stream, ledger)


def spool_hits(emulators: Emulators, served: Served, count: int, tag: str) -> Ledger:
    """`count` hits answered "spooled": sent while the stream's table does not exist."""
    emulators.client.delete_table(f"{PROJECT}.{served.stream.table_ref}")
    ledger = Ledger()
    for index in range(count):
        post_once(served.url, f"orderId={tag}-{index}&status=paid", ledger)
    provision(emulators.client, [served.stream], PROJECT)
    assert len(ledger.acknowledged("spooled")) == count, ledger.statuses()
    return ledger


def test_replay_killed_half_way_then_run_again(emulators: Emulators, serve: Any) -> None:
    served = serve("spool-crash")
    ledger = spool_hits(emulators, served, 200, "crash")
    waiting = spool_status(emulators.storage, SpoolLocation.parse(spool_url(BUCKET, served.stream.name)))
    assert waiting.waiting == 200 and waiting.oldest_age_seconds is not None  # what scripts/status shows
    # Small batches and a short lease: the crash lands between batches' inserts and deletes, and the
    # lease it leaves behind expires quickly.
    process = replay_process(emulators, served.stream, "--batch-size", "10", "--lease-seconds", "3")
    deadline = time.monotonic() + 120
    while not emulators.rows_per_hit(served.stream) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.kill()  # SIGKILL: no cleanup, the lease stays taken
    process.communicate(timeout=30)
    rows_at_crash = sum(emulators.rows_per_hit(served.stream).values())
    left_at_crash = len(emulators.spooled(served.stream))
    print(f"\n[replay crash] rows_at_crash={rows_at_crash} left_in_spool_at_crash={left_at_crash}")
    assert rows_at_crash > 0 and left_at_crash > 0, "the replay was not stopped half-way"
    early = replay(emulators, served.stream)
    assert early.report["status"] == "locked", "the dead replay's lease should still hold"
    after(3.5)
    run = replay(emulators, served.stream)
    assert run.returncode == 0 and run.report["status"] == "drained", run.output
    # Rows the killed replay inserted without deleting their objects are found, not inserted again.
    assert run.report["already_in_table"] == rows_at_crash - (200 - left_at_crash)
    check_nothing_lost("replay crash", emulators, served.stream, ledger)


def test_two_replays_at_once(emulators: Emulators, serve: Any) -> None:
    served = serve("spool-twice")
    ledger = spool_hits(emulators, served, 150, "twice")
    processes = [replay_process(emulators, served.stream, "--batch-size", "10") for _ in range(2)]
    runs = [finished(process) for process in processes]
    statuses = sorted(run.report["status"] for run in runs)
    print(f"\n[two replays] statuses={statuses} inserted={[run.report['inserted'] for run in runs]}")
    assert statuses == ["drained", "locked"], [run.output[-2000:] for run in runs]
    check_nothing_lost("two replays", emulators, served.stream, ledger)


def test_replay_does_not_insert_a_row_the_table_already_has(emulators: Emulators, serve: Any) -> None:
    """The service's write timed out but BigQuery had stored the row, so it is in the table AND spooled."""
    served = serve("spool-present")
    ledger = spool_hits(emulators, served, 3, "present")
    spooled = emulators.spooled(served.stream)
    first = sorted(spooled)[0]
    errors = emulators.client.insert_rows_json(f"{PROJECT}.{served.stream.table_ref}", [spooled[first]])
    assert errors == []
    run = replay(emulators, served.stream)
    assert run.returncode == 0, run.output
    assert (run.report["inserted"], run.report["already_in_table"], run.report["deleted"]) == (2, 1, 3)
    check_nothing_lost("row already in table", emulators, served.stream, ledger)


class LateAnswerProxy(BigQueryProxy):
    """Forwards every insertAll to the emulator, which stores its rows, but answers it only after `hold`
    seconds: longer than the service's write deadline, so the service gives up on a write that landed."""

    def __init__(self, upstream: str, hold: float) -> None:
        super().__init__(upstream)
        self.hold = hold
        self.held = 0

    def reply(self, handler: Any, status: int, headers: dict[str, str], body: bytes) -> None:  # type: ignore[override]
        if self.is_insert_all(handler) and status == 200:  # the emulator has stored the rows
            self.held += 1
            after(self.hold)
        with contextlib.suppress(OSError):  # the service gave up and closed the connection: the point
            BigQueryProxy.reply(handler, status, headers, body)


def test_a_late_write_and_its_spooled_copy_leave_one_row(emulators: Emulators, serve: Any) -> None:
    """BigQuery stores a row but its answer comes after the write deadline: the service spools the hit,
    so its row is in the table AND in the spool. After the replay: exactly one row, no object."""
    proxy = LateAnswerProxy(emulators.bigquery_url, hold=3 * DEADLINE_SECONDS)
    try:
        served = serve("spool-late-write", proxy.url)
        ledger = Ledger()
        post_once(served.url, "orderId=late-1&status=paid", ledger)
    finally:
        proxy.close()
    [(_, code, body)] = ledger.answers
    assert code == 200 and body["status"] == "spooled", ledger.answers
    hit = body["hit_id"]
    assert proxy.held >= 1 and emulators.rows_per_hit(served.stream)[hit] == 1, "no write landed late"
    assert set(emulators.spooled(served.stream)) == {hit}, "the hit is not also in the spool"

    run = replay(emulators, served.stream)
    assert run.returncode == 0, run.output
    assert (run.report["inserted"], run.report["already_in_table"], run.report["deleted"]) == (0, 1, 1), run.output
    assert emulators.rows_per_hit(served.stream) == Counter({hit: 1})
    assert emulators.spooled(served.stream) == {}


def test_a_spooled_hit_is_replayed_with_its_headers(emulators: Emulators, serve: Any) -> None:
    served = serve("spool-headers", keep_headers=("X-Event-Type",))
    emulators.client.delete_table(f"{PROJECT}.{served.stream.table_ref}")  # insertAll: 404, the hit is spooled
    parts = urlsplit(served.url)
    connection = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=60)
    connection.request("POST", parts.path, body=b"orderId=H1&status=paid",
                       headers={"Content-Type": "application/x-www-form-urlencoded", "X-Event-Type": "order.paid",
                                "Cookie": "session=4f2b9c"})
    answer = json.loads(connection.getresponse().read())
    connection.close()
    assert answer["status"] == "spooled"  # the fault happened: the row is in the spool, not the table
    expected = {"method": "POST", "content-type": "application/x-www-form-urlencoded", "x-event-type": "order.paid"}
    assert json.loads(emulators.spooled(served.stream)[answer["hit_id"]]["headers"]) == expected

    provision(emulators.client, [served.stream], PROJECT)
    run = replay(emulators, served.stream)
    assert run.returncode == 0, run.output
    sql = f"SELECT hit_id, headers FROM `{PROJECT}.{served.stream.table_ref}`"
    rows = [dict(row) for row in emulators.client.query(sql, timeout=30).result(timeout=60)]
    assert [(row["hit_id"], json.loads(row["headers"])) for row in rows] == [(answer["hit_id"], expected)]
