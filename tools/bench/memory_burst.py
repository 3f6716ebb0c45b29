"""Peak memory of a whole instance under a burst of worst-case hits, BigQuery up and BigQuery down.

A real gunicorn with the shipped settings of a stream (threads = run.concurrency, max_body_bytes), a
real fake-gcs-server as the spool, and `concurrency` senders posting one body each at the same moment,
each on its own connection. BigQuery up: the stand-in (tools/bench/standin.py) stores every row (a hit
it has not stored within the answer budget is also spooled while its write goes on: both paths at once).
BigQuery down: the service's BigQuery address refuses connections, so every hit takes the spool path.
The figure is the kernel's own peak resident set (VmHWM) of the gunicorn worker and arbiter: what Cloud
Run compares with the memory limit, whatever Python or the C libraries allocated.
"""

from __future__ import annotations

import http.client
import shutil
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from service.model.auth_settings import NoAuth
from service.model.service_env import BIGQUERY_EMULATOR_HOST, SPOOL_URL, ServiceSpec, to_env
from service.model.spool import spool_url
from service.model.stream import Stream
from tools.bench.standin import start_standin
from tools.local.gcs_emulator import STORAGE_EMULATOR_HOST, ensure_bucket, start_gcs_emulator
from tools.local.processes import Process, free_port, start_service

BUCKET = "hookstream-bench-memory"
# The characters that cost the most on the way to a spool object or an insertAll: control characters
# (six bytes each when JSON-escaped), quotes and backslashes (two), and non-ASCII up to an emoji (which
# makes Python hold the whole decoded body at four bytes per character).
WORST_CASE_UNIT = '\x01\x1f"\\' * 7 + "é中😀"


@dataclass(frozen=True)
class Burst:
    bigquery: str  # "up" or "down"
    hits: int
    body_bytes: int
    answers: dict[str, int]  # body status ("stored", "spooled") or HTTP status -> hits
    idle_mib: float  # arbiter + worker after a warm-up hit, before the burst
    peak_mib: float  # arbiter + worker, each at its own peak (an upper bound of their sum at any moment)

    @property
    def per_body_factor(self) -> float:
        """Memory the burst added, as a multiple of the bodies in flight."""
        return round((self.peak_mib - self.idle_mib) * 2**20 / (self.hits * self.body_bytes), 2)


def worst_case_body(body_bytes: int) -> bytes:
    """As many whole units as fit in `body_bytes`."""
    unit = WORST_CASE_UNIT.encode()
    return unit * (body_bytes // len(unit))


def measure_burst(stream: Stream, bigquery_up: bool) -> Burst:
    work = Path(tempfile.mkdtemp(prefix="hookstream-bench-burst-"))
    started: list[Process] = []
    try:
        gcs, gcs_url = start_gcs_emulator(work / "gcs", free_port(), work / "gcs.log")
        started.append(gcs)
        ensure_bucket(gcs_url, BUCKET)
        bigquery_port = free_port()  # nothing listens there while BigQuery is "down"
        if bigquery_up:
            started.append(start_standin(bigquery_port, work / "standin.log"))
        measured = replace(stream, auth=NoAuth())
        env = {**to_env(ServiceSpec.of(measured, "bench-project")),
               BIGQUERY_EMULATOR_HOST: f"http://127.0.0.1:{bigquery_port}",
               SPOOL_URL: spool_url(BUCKET, measured.name), STORAGE_EMULATOR_HOST: gcs_url}
        port = free_port()
        service = start_service(measured.name, env, port, work / "service.log")
        started.append(service)
        warm_up = send_all(port, [b"warm=up"])
        if warm_up != Counter({"stored" if bigquery_up else "spooled": 1}):
            raise RuntimeError(f"the warm-up hit was answered {dict(warm_up)}: {service.log_tail()}")
        processes = [service.popen.pid, *children(service.popen.pid)]
        idle = sum(status_kib(pid, "VmRSS") for pid in processes)
        body = worst_case_body(stream.max_body_bytes)
        answers = send_all(port, [body] * stream.run.concurrency)
        peak = sum(status_kib(pid, "VmHWM") for pid in processes)
        return Burst("up" if bigquery_up else "down", stream.run.concurrency, len(body), dict(answers),
                     round(idle / 1024, 1), round(peak / 1024, 1))
    finally:
        for process in reversed(started):
            process.stop()
        shutil.rmtree(work, ignore_errors=True)


def send_all(port: int, bodies: list[bytes]) -> Counter[str]:
    """Post every body at the same moment, each on its own connection; what each was answered."""
    import json

    answers: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(bodies))

    def send(body: bytes) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            connection.connect()
            start.wait()
            connection.request("POST", "/hooks", body=body,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            answer = response.read()
            outcome = json.loads(answer).get("status", str(response.status)) if response.status == 200 else str(
                response.status)
        except OSError as error:
            outcome = type(error).__name__
        finally:
            connection.close()
        with lock:
            answers[outcome] += 1

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def status_kib(pid: int, field: str) -> int:
    """A memory figure of /proc/<pid>/status (VmRSS: now; VmHWM: the peak since the process started)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")
