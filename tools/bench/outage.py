"""`scripts/bench-outage`: a BigQuery outage under a fixed request rate, on this machine.

Starts the BigQuery emulator, a Cloud Storage emulator for the spool and one stream's gunicorn (1 worker,
80 threads, the default 10 s write deadline: as on Cloud Run). Sends hits open-loop at a fixed rate
(each on its own connection, never retried) for `--before` seconds, stops the BigQuery emulator for
`--outage` seconds, starts it again and sends for `--after` seconds more. Then runs the replay (as the
Cloud Run job would) until the spool is empty and compares the table with what was acknowledged.
Prints the figures; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.model.auth_settings import NoAuth
from service.model.service_env import METRICS_ENDPOINT
from service.model.stream import Stream
from service.runtime.bigquery_client import make_client
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


def send_at_rate(port: int, rate: float, phases: list[tuple[str, float]], on_phase: dict[str, Any]) -> list[Answer]:
    """Open loop: request n leaves at start + n / rate whatever the earlier ones are doing."""
    answers: list[Answer] = []
    lock = threading.Lock()
    workers: list[threading.Thread] = []

    def one(number: int, phase: str) -> None:
        started = time.monotonic()
        try:
            status, body = post(port, f"orderId=O{number}&status=delivered&total=120.13", 60.0)
        except OSError:
            status, body = 0, {}
        latency = (time.monotonic() - started) * 1000
        outcome = str(body.get("status")) if 200 <= status < 300 else ("refused" if status == 503 else "error")
        with lock:
            answers.append(Answer(phase, status, outcome, body.get("hit_id"), latency))

    number = 0
    start = time.monotonic()
    elapsed_phases = 0.0
    for phase, seconds in phases:
        if phase in on_phase:
            on_phase[phase]()
        phase_end = start + elapsed_phases + seconds
        while True:
            due = start + number / rate
            if due >= phase_end:
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            thread = threading.Thread(target=one, args=(number, phase), daemon=True)
            thread.start()
            workers.append(thread)
            number += 1
        elapsed_phases += seconds
    for thread in workers:
        thread.join(90)
    return answers


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def run_replay(env: dict[str, str]) -> dict[str, Any]:
    # At once, not after the write-in-flight window (write deadline + 30 s): the figure is the replay's own
    # drain time; on a deployment add the window (docs/spool.md).
    result = subprocess.run([sys.executable, "-m", "service.runtime.replay", "--min-age-seconds", "0"], cwd=REPO_ROOT,
                            env=replay_process_env(env), capture_output=True, text=True, timeout=900)
    for line in result.stdout.splitlines():
        if '"replay finished"' in line:
            report: dict[str, Any] = json.loads(line)  # the report's fields are the line's own
            return report
    raise RuntimeError(f"replay printed no report (exit {result.returncode}): {result.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench-outage", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=40.0, help="hits per second (default 40)")
    parser.add_argument("--before", type=float, default=10.0)
    parser.add_argument("--outage", type=float, default=30.0, help="seconds BigQuery is stopped (default 30)")
    parser.add_argument("--after", type=float, default=10.0)
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="hookstream-outage-"))
    started: list[Process] = []
    try:
        bq_ports = (free_port(), free_port())
        bigquery, bigquery_url = start_emulator(root / "bq", PROJECT, *bq_ports, root / "bq.log")
        started.append(bigquery)
        gcs, gcs_url = start_gcs_emulator(root / "gcs", free_port(), root / "gcs.log")
        started.append(gcs)
        ensure_bucket(gcs_url, BUCKET)
        client = make_client(PROJECT, bigquery_url)
        provision(client, [STREAM], PROJECT)
        env = {**local_stream_env(STREAM, PROJECT, bigquery_url, gcs_url, BUCKET), METRICS_ENDPOINT: "1"}
        port = free_port()
        # 80 threads: ServiceSpec.of takes the stream's concurrency (RunOptions' default, as on Cloud Run).
        started.append(start_service(STREAM.name, env, port, root / "service.log", workers=1))

        marks: dict[str, float] = {}

        def outage_starts() -> None:
            marks["outage"] = time.monotonic()
            bigquery.stop()

        def restart() -> None:
            process, _ = start_emulator(root / "bq", PROJECT, *bq_ports, root / "bq.log")
            started.append(process)
            marks["recovered"] = time.monotonic()

        restarting = threading.Thread(target=restart, daemon=True)

        def outage_ends() -> None:
            restarting.start()  # in the background: the pacer keeps its rate while the emulator starts

        print(f"sending {args.rate:g} hits/s: {args.before:g} s normal, {args.outage:g} s with BigQuery stopped, "
              f"{args.after:g} s after it is back...", flush=True)
        answers = send_at_rate(port, args.rate, [("before", args.before), ("outage", args.outage),
                                                 ("after", args.after)],
                               {"outage": outage_starts, "after": outage_ends})
        sends_done = time.monotonic()
        restarting.join(120)
        replay_runs = []
        while True:
            report = run_replay(env)
            replay_runs.append(report)
            if report["listed"] == 0 or report["status"] != "drained" or len(replay_runs) > 20:
                break
        drained = time.monotonic()
        client = make_client(PROJECT, bigquery_url)
        sql = f"SELECT hit_id, COUNT(*) AS n FROM `{PROJECT}.{STREAM.table_ref}` GROUP BY hit_id"
        rows = Counter({row["hit_id"]: row["n"] for row in client.query(sql, timeout=30).result(timeout=120)})
    finally:
        for process in reversed(started):
            process.stop()

    acknowledged = {a.hit_id for a in answers if a.outcome in ("stored", "spooled")}
    by_phase = {phase: Counter(a.outcome for a in answers if a.phase == phase)
                for phase in ("before", "outage", "after")}
    spooled_latency = [a.latency_ms for a in answers if a.outcome == "spooled"]
    stored_latency = [a.latency_ms for a in answers if a.outcome == "stored"]
    figures = {
        "rate_per_s": args.rate, "outage_s": args.outage, "sent": len(answers),
        "by_phase": {phase: dict(counts) for phase, counts in by_phase.items()},
        "acknowledged": len(acknowledged),
        "acknowledged_during_outage": by_phase["outage"]["stored"] + by_phase["outage"]["spooled"],
        "spooled": sum(1 for a in answers if a.outcome == "spooled"),
        "refused_503": sum(1 for a in answers if a.outcome == "refused"),
        "errors": sum(1 for a in answers if a.outcome == "error"),
        "spooled_latency_ms": {"p50": quantile(spooled_latency, 0.5), "p99": quantile(spooled_latency, 0.99),
                               "max": quantile(spooled_latency, 1.0)},
        "stored_latency_ms": {"p50": quantile(stored_latency, 0.5), "p99": quantile(stored_latency, 0.99)},
        "replay_runs": len(replay_runs),
        "replayed": sum(r["inserted"] for r in replay_runs),
        "already_in_table": sum(r["already_in_table"] for r in replay_runs),
        "drain_s_after_sending_ended": round(drained - sends_done, 2),
        "drain_s_after_bigquery_back": round(drained - marks["recovered"], 2),
        "rows": sum(rows.values()),
        "acknowledged_missing": sum(1 for hit in acknowledged if rows[hit] == 0),
        "duplicates": sum(1 for n in rows.values() if n > 1),
        "rows_not_acknowledged": sum(n for hit, n in rows.items() if hit not in acknowledged),
    }
    print(f"sent {figures['sent']} at {args.rate:g}/s; during the {args.outage:g} s outage: "
          f"{figures['acknowledged_during_outage']} acknowledged ({dict(by_phase['outage'])}); "
          f"503: {figures['refused_503']}, errors: {figures['errors']}")
    print(f"latency while spooling: p50 {figures['spooled_latency_ms']['p50']} ms, "
          f"p99 {figures['spooled_latency_ms']['p99']} ms, max {figures['spooled_latency_ms']['max']} ms "
          f"(stored: p50 {figures['stored_latency_ms']['p50']} ms, p99 {figures['stored_latency_ms']['p99']} ms)")
    print(f"replay: {figures['replayed']} rows in {figures['replay_runs']} run(s), spool empty "
          f"{figures['drain_s_after_sending_ended']} s after the last hit was answered")
    print(f"table: {figures['rows']} rows for {figures['acknowledged']} acknowledged hits; missing "
          f"{figures['acknowledged_missing']}, duplicates {figures['duplicates']}, rows of unacknowledged hits "
          f"{figures['rows_not_acknowledged']}")
    print(json.dumps(figures))
    ok = figures["acknowledged_missing"] == 0 and figures["duplicates"] == 0 and figures["rows_not_acknowledged"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
