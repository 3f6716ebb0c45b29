"""`scripts/bench-outage`: what senders wait, and what is kept, through BigQuery outages of three shapes.

Per shape (BigQuery frozen by SIGSTOP; every insertAll taking 3 s; BigQuery frozen and Cloud Storage
stopped) and sender pattern (one sender, a hit every 200 ms; 50 senders at once): starts the BigQuery
emulator, a Cloud Storage emulator for the spool and one stream's gunicorn (1 worker, 80 threads, the
default 10 s write deadline and 2 s answer budget: as on Cloud Run); sends (each hit on its own connection,
never retried) for `--before` s, through the fault for `--outage` s, and `--after` s more. Then runs the
replay (as the Cloud Run job would) until the spool is empty and compares the table with what was
acknowledged. Prints the figures; the last line is one JSON list.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from service.model.auth_settings import NoAuth
from service.model.service_env import METRICS_ENDPOINT
from service.model.stream import Stream
from service.runtime.bigquery_client import make_client
from tools.bench.bigquery_proxy import SlowInsertProxy
from tools.local.gcs_emulator import ensure_bucket, start_gcs_emulator
from tools.local.processes import REPO_ROOT, Process, free_port, start_emulator, start_service
from tools.local.provision import provision
from tools.local.spool_replay import local_stream_env, replay_process_env

PROJECT = "hookstream-outage"
BUCKET = "hookstream-outage-spool"
STREAM = Stream(name="outage", dataset="outage", table="hits", auth=NoAuth())


@dataclass
class Answer:
    phase: str
    status: int  # 0: no answer (connection error)
    outcome: str  # stored | spooled | refused | error
    hit_id: str | None
    latency_ms: float


def post(port: int, body: str, timeout: float) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/hooks", body=body.encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def run_replay(env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "service.runtime.replay"], cwd=REPO_ROOT,
                            env=replay_process_env(env), capture_output=True, text=True, timeout=900)
    for line in result.stdout.splitlines():
        if '"replay finished"' in line:
            report: dict[str, Any] = json.loads(line)  # the report's fields are the line's own
            return report
    raise RuntimeError(f"replay printed no report (exit {result.returncode}): {result.stderr[-2000:]}")


SHAPES = ("stopped", "slow", "spool-down")
SENDERS = ("lone", "concurrent")


@dataclass
class Fault:
    """What one shape does to the stack, and undoes."""

    start: Callable[[], None]
    end: Callable[[], None]


def send_in_pattern(port: int, pattern: str, phases: list[tuple[str, float]],
                    on_phase: dict[str, Callable[[], None]]) -> list[Answer]:
    """`lone`: one sender, a hit every 200 ms after the last answer (a CRM sending status changes one at a
    time); `concurrent`: 50 senders, each sending its next hit as soon as the last one was answered."""
    answers: list[Answer] = []
    lock = threading.Lock()
    phase_now = [phases[0][0]]
    stop = threading.Event()
    counter = iter(range(10**9))

    def sender(pause: float) -> None:
        while not stop.is_set():
            number = next(counter)
            phase = phase_now[0]
            started = time.monotonic()
            try:
                status, body = post(port, f"orderId=O{number}&status=delivered&total=120.13", 60.0)
            except OSError:
                status, body = 0, {}
            outcome = str(body.get("status")) if 200 <= status < 300 else ("refused" if status == 503 else "error")
            with lock:
                answers.append(Answer(phase, status, outcome, body.get("hit_id"), (time.monotonic() - started) * 1000))
            stop.wait(pause)

    count, pause = (1, 0.2) if pattern == "lone" else (50, 0.0)
    threads = [threading.Thread(target=sender, args=(pause,), daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for phase, seconds in phases:
        phase_now[0] = phase
        if phase in on_phase:
            on_phase[phase]()
        time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(90)
    return answers


def drain(env: dict[str, str]) -> list[dict[str, Any]]:
    """Replay until the spool is empty. A run leaves the hits spooled within the write-in-flight window (the
    write deadline + 30 s: their hedged write may still land) for a later one, so the drain waits them out."""
    runs = []
    give_up_at = time.monotonic() + 300
    while True:
        report = run_replay(env)
        runs.append(report)
        if report["status"] != "drained" or not report["waiting"] or time.monotonic() > give_up_at:
            return runs
        time.sleep(5.0 if report["too_young"] else 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench-outage", description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=SHAPES, action="append",
                        help="stopped: BigQuery frozen (SIGSTOP); slow: every insertAll takes 3 s; spool-down: "
                             "BigQuery frozen and Cloud Storage stopped (default: all three)")
    parser.add_argument("--senders", choices=SENDERS, action="append", help="default: both")
    parser.add_argument("--before", type=float, default=5.0)
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the fault lasts (default 30)")
    parser.add_argument("--after", type=float, default=5.0)
    args = parser.parse_args(argv)
    results = [run_one(shape, pattern, args.before, args.outage, args.after)
               for shape in (args.shape or SHAPES) for pattern in (args.senders or SENDERS)]
    print(json.dumps(results))
    return 0 if all(result["ok"] for result in results) else 1


def run_one(shape: str, pattern: str, before: float, outage: float, after: float) -> dict[str, Any]:
    stream = replace(STREAM, name=f"outage-{shape}-{pattern}"[:20].rstrip("-"),
                     table=f"hits_{shape}_{pattern}".replace("-", "_"))
    root = Path(tempfile.mkdtemp(prefix="hookstream-outage-"))
    started: list[Process] = []
    proxy: SlowInsertProxy | None = None
    try:
        bigquery, bigquery_url = start_emulator(root / "bq", PROJECT, free_port(), free_port(), root / "bq.log")
        started.append(bigquery)
        gcs_port = free_port()
        gcs, gcs_url = start_gcs_emulator(root / "gcs", gcs_port, root / "gcs.log")
        started.append(gcs)
        ensure_bucket(gcs_url, BUCKET)
        client = make_client(PROJECT, bigquery_url)
        provision(client, [stream], PROJECT)
        proxy = SlowInsertProxy(bigquery_url)
        env = {**local_stream_env(stream, PROJECT, proxy.url if shape == "slow" else bigquery_url, gcs_url, BUCKET),
               METRICS_ENDPOINT: "1"}
        port = free_port()
        # 80 threads: ServiceSpec.of takes the stream's concurrency (RunOptions' default, as on Cloud Run).
        started.append(start_service(stream.name, env, port, root / "service.log", workers=1))
        marks: dict[str, float] = {}
        pid = bigquery.popen.pid  # the emulator this run started, by PID

        def set_delay(seconds: float) -> None:
            assert proxy is not None
            proxy.delay_seconds = seconds

        def freeze_both() -> None:
            os.kill(pid, signal.SIGSTOP)
            gcs.stop()

        def thaw_both() -> None:
            os.kill(pid, signal.SIGCONT)
            started.append(start_gcs_emulator(root / "gcs", gcs_port, root / "gcs.log")[0])

        faults = {
            "stopped": Fault(lambda: os.kill(pid, signal.SIGSTOP), lambda: os.kill(pid, signal.SIGCONT)),
            "slow": Fault(lambda: set_delay(3.0), lambda: set_delay(0.0)),
            "spool-down": Fault(freeze_both, thaw_both),
        }
        fault = faults[shape]

        def fault_starts() -> None:
            marks["fault"] = time.monotonic()
            fault.start()

        def fault_ends() -> None:
            fault.end()
            marks["recovered"] = time.monotonic()

        print(f"[{shape}, {pattern}] {before:g} s normal, {outage:g} s {shape}, {after:g} s after...", flush=True)
        try:
            answers = send_in_pattern(port, pattern, [("before", before), ("outage", outage), ("after", after)],
                                      {"outage": fault_starts, "after": fault_ends})
        finally:
            if "fault" in marks and "recovered" not in marks:
                fault.end()
        sends_done = time.monotonic()
        replay_runs = drain(env)
        drained = time.monotonic()
        sql = f"SELECT hit_id, COUNT(*) AS n FROM `{PROJECT}.{stream.table_ref}` GROUP BY hit_id"
        rows = Counter({row["hit_id"]: row["n"] for row in client.query(sql, timeout=30).result(timeout=120)})
        counters = metrics_of(port)
    finally:
        if proxy is not None:
            proxy.close()
        for process in reversed(started):
            process.stop()
    return figures_of(shape, pattern, answers, rows, replay_runs, drained - sends_done, counters)


def metrics_of(port: int) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        counters: dict[str, Any] = json.loads(connection.getresponse().read())
        return counters
    finally:
        connection.close()


def figures_of(shape: str, pattern: str, answers: list[Answer], rows: Counter[str],
               replay_runs: list[dict[str, Any]], drain_seconds: float, counters: dict[str, Any]) -> dict[str, Any]:
    acknowledged = {a.hit_id for a in answers if a.outcome in ("stored", "spooled") and a.hit_id}
    during = [a for a in answers if a.phase == "outage"]
    latency = [a.latency_ms for a in during]
    every = [a.latency_ms for a in answers]
    spool = counters.get("spool") or {}
    figures = {
        "shape": shape, "senders": pattern, "sent": len(answers), "sent_during_fault": len(during),
        "during_fault": dict(Counter(a.outcome for a in during)),
        "answer_ms_during_fault": {"p50": quantile(latency, 0.5), "p99": quantile(latency, 0.99),
                                   "max": quantile(latency, 1.0)},
        # Every hit's, the ones that met the fault's start while their write was in flight included.
        "answer_ms_all_hits": {"p50": quantile(every, 0.5), "p99": quantile(every, 0.99), "max": quantile(every, 1.0)},
        "acknowledged": len(acknowledged),
        "refused_503": sum(1 for a in answers if a.outcome == "refused"),
        "errors": sum(1 for a in answers if a.outcome == "error"),
        "stored_after_spooling": spool.get("stored_after_spooling"),
        "bigquery_probes": spool.get("bigquery_probes"),
        "replay_runs": len(replay_runs),
        "replayed": sum(r["inserted"] for r in replay_runs),
        "already_in_table": sum(r["already_in_table"] for r in replay_runs),
        "spool_empty_s_after_sending_ended": round(drain_seconds, 2),
        "rows": sum(rows.values()),
        "acknowledged_missing": sum(1 for hit in acknowledged if hit is not None and rows[hit] == 0),
        "duplicates": sum(1 for n in rows.values() if n > 1),
        "rows_not_acknowledged": sum(n for hit, n in rows.items() if hit not in acknowledged),
    }
    figures["ok"] = figures["acknowledged_missing"] == 0 and figures["duplicates"] == 0
    print(f"[{shape}, {pattern}] during the fault: {figures['during_fault']}; answer ms p50 "
          f"{figures['answer_ms_during_fault']['p50']} p99 {figures['answer_ms_during_fault']['p99']} max "
          f"{figures['answer_ms_during_fault']['max']} (all hits: max {figures['answer_ms_all_hits']['max']}); "
          f"acknowledged {figures['acknowledged']}, rows "
          f"{figures['rows']}, missing {figures['acknowledged_missing']}, duplicates {figures['duplicates']}, "
          f"stored after spooling {figures['stored_after_spooling']}, spool empty "
          f"{figures['spool_empty_s_after_sending_ended']} s after sending ended", flush=True)
    return figures


if __name__ == "__main__":
    sys.exit(main())
