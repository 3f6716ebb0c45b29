"""`scripts/bench`: hookstream under wrk on this machine, against a bare Flask baseline in the same run.

Starts the BigQuery emulator and one stream's gunicorn (auth off, same config as Cloud Run), and the
baseline app (tools/bench/baseline.py) under the same gunicorn config, workers and threads.
Then, on 127.0.0.1, each for a fixed time: wrk at saturation against both; then wrk paced to half of
hookstream's saturation rate (wrk2 is not packaged here: wrk's Lua `delay` spaces each connection's
requests, which is closed-loop, so a stall lowers the achieved rate; the achieved rate is printed
next to the target). Prints the figures; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from service.model.auth_settings import NoAuth
from service.model.service_env import BIGQUERY_EMULATOR_HOST, METRICS_ENDPOINT, ServiceSpec, to_env
from service.model.stream import Stream
from service.runtime.bigquery_client import make_client
from tools.local.processes import (
    GUNICORN_CONFIG,
    Process,
    ensure_port_free,
    free_port,
    spawn,
    start_emulator,
    start_service,
    wait_http,
)
from tools.local.provision import provision

PROJECT = "hookstream-bench"
STREAM = Stream(name="bench", dataset="bench", table="hits", auth=NoAuth())
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = """
counter = 0
local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
request = function()
  counter = counter + 1
  return wrk.format("POST", "/hooks", headers, "orderId=N" .. counter .. "&status=delivered&total=120.13&userId=U1")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def run_wrk(port: int, script: Path, seconds: int, connections: int, threads: int) -> WrkResult:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
            "-s", str(script), f"http://127.0.0.1:{port}/hooks"]
    output = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return WrkResult(
        requests=data["requests"], seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000, non_2xx=data["status"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
    )


PACED_CONNECTIONS = 64


def _paced_run(port: int, delay_ms: int, seconds: int, work: Path) -> WrkResult:
    script = work / "paced.lua"
    script.write_text(WRK_SCRIPT + f"\ndelay = function() return {delay_ms} end\n")
    return run_wrk(port, script, seconds, PACED_CONNECTIONS, 1)


def paced(port: int, rate: float, seconds: int, work: Path) -> dict[str, Any]:
    """Load at about `rate` req/s from wrk itself (so the load generator costs as little CPU as at
    saturation): each connection pauses between requests (wrk's Lua `delay`). A connection's cycle is
    pause + latency, so two 3 s calibration runs adjust the pause until 64 connections add up to `rate`."""
    cycle_ms = PACED_CONNECTIONS / rate * 1000
    delay_ms = cycle_ms
    for _ in range(2):  # latency depends on the load, so correct the pause twice
        probe = _paced_run(port, max(1, round(delay_ms)), 3, work)
        delay_ms += cycle_ms - PACED_CONNECTIONS / max(probe.rps, 0.1) * 1000
    result = _paced_run(port, max(1, round(delay_ms)), seconds, work)
    return {"target_rps": round(rate, 1), "achieved_rps": round(result.rps, 1), "requests": result.requests,
            "p50_ms": round(result.p50_ms, 2), "p99_ms": round(result.p99_ms, 2),
            "errors": result.non_2xx + result.socket_errors}


# -- what the processes used ------------------------------------------------------------------

def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def tree(process: Process) -> list[int]:
    return [process.popen.pid, *children(process.popen.pid)]


def worker_metrics(port: int, workers: list[int], attempts: int = 300) -> dict[int, dict[str, Any]]:
    """GET /metrics until every worker answered once (each counts for itself; the kernel picks one)."""
    seen: dict[int, dict[str, Any]] = {}
    for _ in range(attempts):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/metrics", headers={"Connection": "close"})
        body = json.loads(connection.getresponse().read())
        connection.close()
        seen[body["pid"]] = body
        if set(workers) <= set(seen):
            break
    return seen


def total(snapshots: dict[int, dict[str, Any]], section: str, key: str) -> int:
    return sum(int((snapshot.get(section) or {}).get(key, 0)) for snapshot in snapshots.values())


# -- the run ------------------------------------------------------------------------------------

def start_baseline(port: int, log_path: Path, workers: int, service_env: dict[str, str]) -> Process:
    ensure_port_free(port, "baseline app")
    # The config file reads the service's env (threads and time limits): give it hookstream's.
    env = {**os.environ, **service_env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    # Same config file as hookstream; the positional app overrides its `wsgi_app`.
    argv = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG),
            "tools.bench.baseline:create_app()"]
    process = spawn("baseline", argv, log_path, env)
    wait_http(process, f"http://127.0.0.1:{port}/health", 30)
    return process


def measure(name: str, process: Process, port: int, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    run_wrk(port, script, args.warmup, args.connections, args.wrk_threads)
    before = cpu_seconds(tree(process))
    result = run_wrk(port, script, args.seconds, args.connections, args.wrk_threads)
    cpu = cpu_seconds(tree(process)) - before
    figures = {
        "rps": round(result.rps, 1), "p50_ms": round(result.p50_ms, 2), "p99_ms": round(result.p99_ms, 2),
        "requests": result.requests, "errors": result.non_2xx + result.socket_errors,
        "non_2xx": result.non_2xx, "socket_errors": result.socket_errors,
        "cpu_seconds_per_1000": round(cpu / max(result.requests, 1) * 1000, 3),
    }
    print(f"{name:<11} {figures['rps']:>9.1f} req/s  p50 {figures['p50_ms']:>7.2f} ms  "
          f"p99 {figures['p99_ms']:>7.2f} ms  errors {figures['errors']}  "
          f"cpu {figures['cpu_seconds_per_1000']:.3f} s/1000 hits", flush=True)
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="hookstream-bench-"))
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    started: list[Process] = []
    try:
        emulator, emulator_url = start_emulator(work / "emulator", PROJECT, free_port(), free_port(),
                                                work / "emulator.log")
        started.append(emulator)
        client = make_client(PROJECT, emulator_url)
        provision(client, [STREAM], PROJECT)
        spec_env = to_env(replace(ServiceSpec.of(STREAM, PROJECT), threads=args.threads))
        env = {**spec_env, BIGQUERY_EMULATOR_HOST: emulator_url, METRICS_ENDPOINT: "1"}
        hook_port, base_port = free_port(), free_port()
        service = start_service(STREAM.name, env, hook_port, work / "hookstream.log", workers=args.workers)
        started.append(service)
        baseline = start_baseline(base_port, work / "baseline.log", args.workers, spec_env)
        started.append(baseline)
        print(f"workers={args.workers} threads={args.threads} wrk -t{args.wrk_threads} -c{args.connections} "
              f"-d{args.seconds}s (after a {args.warmup}s warm-up); logs in {work}", flush=True)

        base = measure("baseline", baseline, base_port, script, args)
        workers = children(service.popen.pid)
        metrics_before = worker_metrics(hook_port, workers)
        emulator_cpu_before = cpu_seconds([emulator.popen.pid])
        hook = measure("hookstream", service, hook_port, script, args)
        emulator_cpu = cpu_seconds([emulator.popen.pid]) - emulator_cpu_before
        metrics_after = worker_metrics(hook_port, workers)
        calls = total(metrics_after, "sink", "write_calls") - total(metrics_before, "sink", "write_calls")
        hook["write_calls_per_1000"] = round(calls / max(hook["requests"], 1) * 1000, 2)
        hook["emulator_cpu_seconds_per_1000"] = round(emulator_cpu / max(hook["requests"], 1) * 1000, 3)
        print(f"{'':<11} BigQuery write calls per 1,000 hits: {hook['write_calls_per_1000']}  "
              f"(emulator cpu {hook['emulator_cpu_seconds_per_1000']} s/1000 hits)", flush=True)

        half = paced(hook_port, hook["rps"] / 2, args.half_seconds, work)
        hook["half_saturation"] = half
        print(f"{'':<11} at half saturation ({half['target_rps']} req/s target, {half['achieved_rps']} "
              f"achieved): p50 {half['p50_ms']} ms  p99 {half['p99_ms']} ms  errors {half['errors']}", flush=True)

        # wrk stops with requests in flight; the server still finishes them (rows written, answers sent
        # to closed sockets). Count once they are done, so rows and acknowledged hits can be compared.
        final = worker_metrics(hook_port, children(service.popen.pid))
        for _ in range(15):
            time.sleep(1)
            settled = worker_metrics(hook_port, children(service.popen.pid))
            if total(settled, "hits", "received") == total(final, "hits", "received"):
                break
            final = settled
        hook["peak_rss_mb_per_worker"] = [peak_rss_mb(pid) for pid in children(service.popen.pid)]
        hook["workers_seen_by_metrics"] = len(final)
        acknowledged = total(final, "hits", "written")
        counts = next(iter(client.query(
            f"SELECT COUNT(*) AS n, COUNT(DISTINCT hit_id) AS distinct_ids FROM `{PROJECT}.{STREAM.table_ref}`"
        ).result(timeout=120)))
        table_rows = counts["n"]
        hook["acknowledged_total"] = acknowledged
        hook["rows_in_table"] = table_rows
        # More rows than distinct ids: a write that was retried after the emulator had stored it (BigQuery
        # drops such repeats by insertId; the emulator does not).
        hook["duplicate_rows"] = table_rows - counts["distinct_ids"]
        hook["sink_row_retries"] = total(final, "sink", "row_retries")
        print(f"{'':<11} peak RSS per worker {hook['peak_rss_mb_per_worker']} MB; acknowledged {acknowledged}, "
              f"rows in table {table_rows} ({hook['duplicate_rows']} duplicate)", flush=True)
        client.close()
    finally:
        for process in reversed(started):
            process.stop()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    ratio = round(hook["rps"] / base["rps"], 3) if base["rps"] else None
    return {
        "config": {"workers": args.workers, "threads": args.threads, "connections": args.connections,
                   "seconds": args.seconds, "cores": os.cpu_count()},
        "baseline": base, "hookstream": hook, "throughput_ratio": ratio,
        "targets_met": {
            "throughput_ratio_ge_0_9": ratio is not None and ratio >= 0.9,
            "write_calls_per_1000_le_10": hook["write_calls_per_1000"] <= 10,
            "p99_at_half_saturation_le_50ms": hook["half_saturation"]["p99_ms"] <= 50,
            "zero_errors": hook["errors"] == 0 and hook["half_saturation"]["errors"] == 0,
        },
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=12, help="wrk run per app (default 12)")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up per app, not counted (default 2)")
    parser.add_argument("--half-seconds", type=int, default=10, help="paced run at half saturation (default 10)")
    # Defaults mirror a Cloud Run instance as the stack deploys it: 1 vCPU, so one worker, and one
    # thread per request of the default concurrency (80); wrk keeps twice that many requests open.
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers for both apps (default 1)")
    parser.add_argument("--threads", type=int, default=80, help="gunicorn threads per worker (default 80)")
    parser.add_argument("--connections", type=int, default=160, help="wrk connections (default 160)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the logs and emulator data")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    if shutil.which("wrk") is None:
        print("scripts/bench: wrk is not installed (Debian package 'wrk': apt-get install -y wrk)", file=sys.stderr)
        return 1
    result = run(parse_args(sys.argv[1:] if argv is None else argv))
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
