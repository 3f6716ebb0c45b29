"""`scripts/bench`: hookstream under wrk on this machine, against a bare Flask baseline in the same run.

Three apps, one after the other, each under the same gunicorn config, workers and threads:
- `baseline`: a bare Flask app that reads the body and answers JSON (tools/bench/baseline.py);
- `standin`: one stream's hookstream writing through the real BigQuery client over real HTTP to a stand-in
  that answers insertAll at next to no CPU (tools/bench/standin.py): the service's own cost, the default figure;
- `emulator`: the same service writing to the BigQuery emulator: the end-to-end figure, where the emulator's
  CPU (Google's on Cloud Run) shares the machine.
Per app: wrk at saturation, then paced to half of that app's saturation rate; for hookstream also lone hits
(one at a time), rows = acknowledged and duplicates, and cold starts (process start to the first stored hit,
median of several). CPU is the server's own processes' utime+stime from /proc, not wall time. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from service.model.auth_settings import NoAuth
from service.model.service_env import BIGQUERY_EMULATOR_HOST, METRICS_ENDPOINT, PREFIX, ServiceSpec, to_env
from service.model.stream import Stream
from tools.bench.cold_start import cold_starts
from tools.bench.costs import per_million_hits
from tools.bench.cpus import pin_service, pin_tools, plan
from tools.bench.procstat import children, context_switches, cpu_seconds, cpu_split, peak_rss_mb, tree
from tools.bench.profile import start_recording
from tools.bench.standin import read_counts, start_standin
from tools.bench.wrk import WRK_SCRIPT, paced, run_wrk
from tools.local.processes import (
    GUNICORN_CONFIG,
    Process,
    ensure_port_free,
    free_port,
    spawn,
    start_emulator,
    wait_http,
)

PROJECT = "hookstream-bench"
STREAM = Stream(name="bench", dataset="bench", table="hits", auth=NoAuth())
# What wrk sends too (tools/bench/wrk.py), with a fixed order id.
BODY = b"orderId=N0&status=delivered&total=120.13&userId=U1"
MODES = ("standin", "emulator")
# The product's stated speed targets (docs/benchmark.md), checked against the stand-in (the service's own cost).
TARGET_CPU_RATIO = 1.15
TARGET_RPS_RATIO = 0.85
TARGET_HALF_P99_MS = 20.0
TARGET_LONE_OVERHEAD_MS = 2.0
TARGET_COLD_START_S = 0.5


# -- starting the apps ------------------------------------------------------------------------------

def spawn_gunicorn(name: str, port: int, log_path: Path, env: dict[str, str], args: argparse.Namespace,
                   app: str | None = None) -> Process:
    """gunicorn with the service's config file (as on Cloud Run); `app` overrides its `wsgi_app`.
    Returns at once: the caller waits for it (or measures how long it takes)."""
    ensure_port_free(port, name)
    # As tools/local/processes.start_service: this shell's other HOOKSTREAM_* variables are not passed on
    # (the service refuses settings it does not know). Threads and limits come with `env`, the service's.
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(PREFIX)}
    full_env = {**inherited, **env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(args.workers)}
    argv = [args.server_python, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), *([app] if app else [])]
    process = spawn(name, argv, log_path, full_env)
    pin_service(args.cpus, process.popen.pid)  # before the master forks its worker (it imports gunicorn first)
    return process


def spec_environment(args: argparse.Namespace) -> dict[str, str]:
    """The stream's service settings (auth none), with the thread count asked for. The baseline gets them
    too: the gunicorn config file reads its threads and time limits from them."""
    return to_env(replace(ServiceSpec.of(STREAM, PROJECT), threads=args.threads))


def service_environment(bigquery_url: str, args: argparse.Namespace) -> dict[str, str]:
    return {**spec_environment(args), BIGQUERY_EMULATOR_HOST: bigquery_url, METRICS_ENDPOINT: "1"}


@dataclass
class App:
    name: str
    start: Callable[[int], Process]  # spawns on the given port, does not wait

    def start_and_wait(self, port: int) -> Process:
        process = self.start(port)
        wait_http(process, f"http://127.0.0.1:{port}/health", 60)
        return process


# -- measuring ------------------------------------------------------------------------------------

def saturation(name: str, process: Process, port: int, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    if args.warmup:
        run_wrk(port, script, args.warmup, args.connections, args.wrk_threads)
    profiler = None
    if args.profile is not None and name == "standin":
        # The CPU figure below then includes py-spy's sampling cost: profile and measure in separate runs.
        args.profile.mkdir(parents=True, exist_ok=True)
        profiler = start_recording(children(process.popen.pid)[0], args.seconds, args.profile / f"{name}.raw")
    (user_before, system_before), switches_before = cpu_split(tree(process)), context_switches(tree(process))
    result = run_wrk(port, script, args.seconds, args.connections, args.wrk_threads)
    user_after, system_after = cpu_split(tree(process))
    user, system = user_after - user_before, system_after - system_before
    cpu = user + system
    switches = context_switches(tree(process)) - switches_before
    if profiler is not None:
        profiler.wait(60)
    figures = {
        "rps": round(result.rps, 1), "p50_ms": round(result.p50_ms, 2), "p99_ms": round(result.p99_ms, 2),
        "requests": result.requests, "errors": result.non_2xx + result.socket_errors,
        "cpu_ms_per_hit": round(cpu / max(result.requests, 1) * 1000, 4),
        "cpu_system_ms_per_hit": round(system / max(result.requests, 1) * 1000, 4),
        "context_switches_per_hit": round(switches / max(result.requests, 1), 2),
    }
    print(f"{name:<9} {figures['rps']:>8.1f} req/s  p50 {figures['p50_ms']:>7.2f} ms  p99 {figures['p99_ms']:>7.2f} ms"
          f"  errors {figures['errors']}  cpu {figures['cpu_ms_per_hit']:.3f} ms/hit "
          f"(system {figures['cpu_system_ms_per_hit']:.3f}; {figures['context_switches_per_hit']} context switches)",
          flush=True)
    return figures


def half_saturation(name: str, port: int, rps: float, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    half = paced(port, rps / 2, args.half_seconds, work, args.calibration_seconds)
    print(f"{'':<9} half saturation: {half['achieved_rps']} req/s ({half['target_rps']} asked)  "
          f"p50 {half['p50_ms']} ms  p99 {half['p99_ms']} ms  errors {half['errors']}", flush=True)
    return half


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


def total(snapshots: dict[int, dict[str, Any]], section: str, key: str) -> float:
    return sum(float((snapshot.get(section) or {}).get(key, 0)) for snapshot in snapshots.values())


def write_ms_total(snapshots: dict[int, dict[str, Any]]) -> float:
    return sum(float(((snapshot.get("sink") or {}).get("write_ms") or {}).get("sum", 0.0))
               for snapshot in snapshots.values())


def lone_hits(port: int, workers: list[int], count: int) -> dict[str, float]:
    """`count` hits one at a time, 20 ms apart, so each is alone in the process: the median latency, the
    median time of the write call each made (from the workers' counters around each hit), and the median
    of each hit's latency minus its own write call: what the service adds to one BigQuery call."""
    latencies, write_ms, overheads, calls = [], [], [], 0.0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(count):
        time.sleep(0.02)
        before = worker_metrics(port, workers)
        started = time.perf_counter()
        connection.request("POST", "/hooks", body=BODY, headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        response.read()
        latency = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"a lone hit was answered {response.status}")
        after = worker_metrics(port, workers)
        written = write_ms_total(after) - write_ms_total(before)
        calls += total(after, "sink", "write_calls") - total(before, "sink", "write_calls")
        latencies.append(latency)
        write_ms.append(written)
        overheads.append(latency - written)
    connection.close()
    return {"p50_ms": round(statistics.median(latencies), 2), "write_call_ms": round(statistics.median(write_ms), 2),
            "write_calls_per_hit": round(calls / count, 2), "overhead_ms": round(statistics.median(overheads), 2)}


def settled_metrics(port: int, process: Process) -> dict[int, dict[str, Any]]:
    """wrk stops with requests in flight; the server still finishes them. Wait until the count stops moving."""
    final = worker_metrics(port, children(process.popen.pid))
    for _ in range(15):
        time.sleep(1)
        again = worker_metrics(port, children(process.popen.pid))
        if total(again, "hits", "received") == total(final, "hits", "received"):
            return again
        final = again
    return final


# -- one app ----------------------------------------------------------------------------------------

def measure_baseline(app: App, work: Path, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    process = app.start_and_wait(port)
    try:
        figures = saturation("baseline", process, port, script, args)
        figures["half_saturation"] = half_saturation("baseline", port, figures["rps"], work, args)
        figures["peak_rss_mb"] = max(peak_rss_mb(pid) for pid in tree(process))
    finally:
        process.stop()
    figures["cold_start"] = cold_starts(app.start, free_port, BODY, args.cold_starts)
    print(f"{'':<9} cold start to first 2xx: median {figures['cold_start']['median_s']} s "
          f"{figures['cold_start']['runs_s']}", flush=True)
    return figures


def measure_hookstream(mode: str, app: App, stored: Callable[[], tuple[int, int]], work: Path, script: Path,
                       args: argparse.Namespace) -> dict[str, Any]:
    """`stored()` answers (rows, duplicate rows) as the warehouse (stand-in or emulator) holds them."""
    port = free_port()
    rows_before, duplicates_before = stored()
    process = app.start_and_wait(port)
    try:
        workers = children(process.popen.pid)
        # Read back from the worker itself: the CPUs it really ran on (pinned: the service CPU, inherited).
        figures_cpus = sorted(set().union(*(os.sched_getaffinity(pid) for pid in workers)))
        before = worker_metrics(port, workers)
        figures = saturation(mode, process, port, script, args)
        figures["worker_cpus"] = figures_cpus
        after = worker_metrics(port, workers)
        calls = total(after, "sink", "write_calls") - total(before, "sink", "write_calls")
        rows = total(after, "sink", "rows_written") - total(before, "sink", "rows_written")
        figures["rows_per_write_call"] = round(rows / max(calls, 1), 2)
        figures["write_calls_per_1000"] = round(calls / max(figures["requests"], 1) * 1000, 2)
        figures["write_call_ms"] = round((write_ms_total(after) - write_ms_total(before)) / max(calls, 1), 2)
        print(f"{'':<9} {figures['rows_per_write_call']} rows per BigQuery call "
              f"({figures['write_calls_per_1000']} calls per 1,000 hits, {figures['write_call_ms']} ms each)",
              flush=True)
        figures["half_saturation"] = half_saturation(mode, port, figures["rps"], work, args)

        time.sleep(0.5)  # let the paced run's last requests finish: a lone hit must be alone
        figures["lone_hit"] = lone_hits(port, workers, args.lone_hits)
        print(f"{'':<9} a lone hit: p50 {figures['lone_hit']['p50_ms']} ms; its write call "
              f"{figures['lone_hit']['write_call_ms']} ms; the rest {figures['lone_hit']['overhead_ms']} ms "
              "(medians)", flush=True)

        final = settled_metrics(port, process)
        figures["peak_rss_mb"] = max(peak_rss_mb(pid) for pid in tree(process))
        acknowledged = int(total(final, "hits", "written"))
    finally:
        process.stop()
    rows_after, duplicates_after = stored()
    figures["acknowledged"] = acknowledged
    figures["rows_stored"] = rows_after - rows_before
    figures["duplicates"] = duplicates_after - duplicates_before
    print(f"{'':<9} acknowledged {acknowledged}, rows stored {figures['rows_stored']} "
          f"({figures['duplicates']} duplicate)  peak RSS {figures['peak_rss_mb']} MB", flush=True)
    figures["cold_start"] = cold_starts(app.start, free_port, BODY, args.cold_starts)
    print(f"{'':<9} cold start to first stored hit: median {figures['cold_start']['median_s']} s "
          f"{figures['cold_start']['runs_s']}", flush=True)
    return figures


def with_ratios(figures: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    figures["rps_ratio"] = round(figures["rps"] / base["rps"], 3) if base["rps"] else None
    figures["cpu_ratio"] = round(figures["cpu_ms_per_hit"] / base["cpu_ms_per_hit"], 3) \
        if base["cpu_ms_per_hit"] else None
    figures["cost_per_million_hits"] = per_million_hits(figures["cpu_ms_per_hit"], len(BODY))
    return figures


def targets(standin: dict[str, Any], modes: dict[str, dict[str, Any]]) -> dict[str, bool]:
    return {
        "cpu_ratio_le_1_15": standin["cpu_ratio"] is not None and standin["cpu_ratio"] <= TARGET_CPU_RATIO,
        "rps_ratio_ge_0_85": standin["rps_ratio"] is not None and standin["rps_ratio"] >= TARGET_RPS_RATIO,
        "half_saturation_p99_le_20ms": standin["half_saturation"]["p99_ms"] <= TARGET_HALF_P99_MS,
        "lone_hit_overhead_le_2ms": standin["lone_hit"]["overhead_ms"] <= TARGET_LONE_OVERHEAD_MS,
        "cold_start_le_0_5s": standin["cold_start"]["median_s"] <= TARGET_COLD_START_S,
        "zero_errors_all_stored_no_duplicates": all(
            m["errors"] == 0 and m["half_saturation"]["errors"] == 0 and m["rows_stored"] == m["acknowledged"]
            and m["duplicates"] == 0 for m in modes.values()),
    }


# -- the run ------------------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict[str, Any]:
    pin_tools(args.cpus)
    work = Path(tempfile.mkdtemp(prefix="hookstream-bench-"))
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    backends: list[Process] = []
    print(f"workers={args.workers} threads={args.threads} wrk -t{args.wrk_threads} -c{args.connections} "
          f"-d{args.seconds}s (after {args.warmup}s warm-up); modes {', '.join(args.modes)}; logs in {work}; "
          f"CPUs {args.cpus.describe()}", flush=True)
    counter = iter(range(10**6))

    def log(name: str) -> Path:
        return work / f"{name}-{next(counter)}.log"

    try:
        baseline = App("baseline", lambda port: spawn_gunicorn(
            "baseline app", port, log("baseline"), spec_environment(args), args, "tools.bench.baseline:create_app()"))
        base = measure_baseline(baseline, work, script, args)
        modes: dict[str, dict[str, Any]] = {}
        if "standin" in args.modes:
            standin_port = free_port()
            standin = start_standin(standin_port, work / "standin.log")
            backends.append(standin)
            url = f"http://127.0.0.1:{standin_port}"
            env = service_environment(url, args)
            app = App("standin", lambda port: spawn_gunicorn("hookstream", port, log("standin"), env, args))

            def standin_stored() -> tuple[int, int]:
                counts = read_counts(url)
                return counts["rows"], counts["duplicates"]

            standin_cpu = cpu_seconds([standin.popen.pid])
            figures = measure_hookstream("standin", app, standin_stored, work, script, args)
            figures["standin_cpu_ms_per_row"] = round(
                (cpu_seconds([standin.popen.pid]) - standin_cpu) / max(figures["rows_stored"], 1) * 1000, 4)
            modes["standin"] = with_ratios(figures, base)
        if "emulator" in args.modes:
            modes["emulator"] = measure_emulator(work, script, args, log, backends, base)
    finally:
        for process in reversed(backends):
            process.stop()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "config": {"server_python": args.server_python, "workers": args.workers, "threads": args.threads,
                   "connections": args.connections,
                   "seconds": args.seconds, "half_seconds": args.half_seconds, "cold_starts": args.cold_starts,
                   "cores": os.cpu_count(), **args.cpus.describe(),
                   "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "baseline": base,
        **modes,
        "targets_met": targets(modes["standin"], modes) if "standin" in modes else None,
    }


def measure_emulator(work: Path, script: Path, args: argparse.Namespace, log: Callable[[str], Path],
                     backends: list[Process], base: dict[str, Any]) -> dict[str, Any]:
    from service.runtime.bigquery_client import make_client
    from tools.local.provision import provision

    emulator, url = start_emulator(work / "emulator", PROJECT, free_port(), free_port(), work / "emulator.log")
    backends.append(emulator)
    client = make_client(PROJECT, url)
    try:
        provision(client, [STREAM], PROJECT)
        env = service_environment(url, args)
        app = App("emulator", lambda port: spawn_gunicorn("hookstream", port, log("emulator"), env, args))

        def table_stored() -> tuple[int, int]:
            counts = next(iter(client.query(
                f"SELECT COUNT(*) AS n, COUNT(DISTINCT hit_id) AS distinct_ids FROM `{PROJECT}.{STREAM.table_ref}`"
            ).result(timeout=120)))
            # More rows than ids: a write retried after the emulator stored it (BigQuery drops such repeats
            # by insertId; the emulator does not).
            return int(counts["n"]), int(counts["n"] - counts["distinct_ids"])

        emulator_cpu = cpu_seconds([emulator.popen.pid])
        figures = measure_hookstream("emulator", app, table_stored, work, script, args)
        figures["emulator_cpu_ms_per_row"] = round(
            (cpu_seconds([emulator.popen.pid]) - emulator_cpu) / max(figures["rows_stored"], 1) * 1000, 4)
        return with_ratios(figures, base)
    finally:
        client.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short runs (about a minute and a half): 5 s per load, 3 cold starts")
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"comma-separated, of {', '.join(MODES)} (default both; the baseline always runs)")
    parser.add_argument("--seconds", type=int, help="wrk at saturation, per app (default 12; quick 5)")
    parser.add_argument("--warmup", type=int, help="wrk warm-up per app, not counted (default 2; quick 1)")
    parser.add_argument("--half-seconds", type=int, help="paced run at half saturation (default 10; quick 4)")
    parser.add_argument("--calibration-seconds", type=int,
                        help="each of the 2 pacing calibrations (default 3; quick 2)")
    parser.add_argument("--cold-starts", type=int,
                        help="fresh starts per app; the median is reported (default 5; quick 3)")
    parser.add_argument("--lone-hits", type=int, help="hits sent one at a time (default 30; quick 15)")
    # Defaults mirror a Cloud Run instance as the stack deploys it: 1 vCPU, so one worker, and one
    # thread per request of the default concurrency (80); wrk keeps twice that many requests open.
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers for every app (default 1)")
    parser.add_argument("--threads", type=int, default=80, help="gunicorn threads per worker (default 80)")
    parser.add_argument("--connections", type=int, default=160, help="wrk connections (default 160)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the logs and emulator data")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let the apps under test share every CPU with wrk and the BigQuery side (by default "
                             "each app gets one CPU of its own, as a 1-vCPU Cloud Run instance; tools/bench/cpus.py)")
    parser.add_argument("--server-python", default=sys.executable,
                        help="the interpreter that runs the apps under test; scripts/bench passes .venv-image's, "
                             "which holds only what the Cloud Run image installs (default: this one)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record the stand-in run's worker with py-spy into DIR/standin.raw "
                             "(summary: python -m tools.bench.profile DIR/standin.raw)")
    args = parser.parse_args(argv)
    defaults = {"seconds": (12, 5), "warmup": (2, 1), "half_seconds": (10, 4), "calibration_seconds": (3, 2),
                "cold_starts": (5, 3), "lone_hits": (30, 15)}
    for name, (normal, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else normal)
    args.cpus = plan(args.pin)
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = [mode for mode in args.modes if mode not in MODES]
    if unknown:
        parser.error(f"--modes: unknown {', '.join(unknown)}; choose from {', '.join(MODES)}")
    if args.cold_starts < 1 or args.lone_hits < 1 or args.seconds < 1 or args.half_seconds < 1:
        parser.error("--seconds, --half-seconds, --cold-starts and --lone-hits must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    if shutil.which("wrk") is None:
        print("scripts/bench: wrk is not installed (Debian package 'wrk': apt-get install -y wrk)", file=sys.stderr)
        return 1
    result = run(parse_args(sys.argv[1:] if argv is None else argv))
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
