"""wrk, the load generator of `scripts/bench`: saturation runs and runs paced at a given rate.

wrk2 is not packaged here: wrk's Lua `delay` spaces each connection's requests, which is closed-loop, so a
stall lowers the achieved rate; the achieved rate is reported next to the target.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# Each connection pauses a random time before its next request, exponentially distributed around the mean
# (its requests then arrive as independent senders' would: a Poisson stream). A fixed pause made every
# connection answered by the same group commit send its next request at the same moment: after a few
# rounds the 64 connections moved in lockstep, as one wave of 64 hits at a time, which no set of CRMs
# does (docs/benchmark.md). The seed is fixed, so runs draw the same pauses.
PACED_DELAY = """
math.randomseed(20261129)
delay = function()
  return math.floor(-math.log(1 - math.random()) * {mean_ms} + 0.5)
end
"""


def _paced_run(port: int, delay_ms: int, seconds: int, work: Path) -> WrkResult:
    script = work / "paced.lua"
    script.write_text(WRK_SCRIPT + PACED_DELAY.format(mean_ms=delay_ms))
    return run_wrk(port, script, seconds, PACED_CONNECTIONS, 1)


def paced(port: int, rate: float, seconds: int, work: Path, calibration_seconds: int = 3) -> dict[str, Any]:
    """Load at about `rate` req/s from wrk itself (so the load generator costs as little CPU as at
    saturation): each connection pauses between requests (wrk's Lua `delay`, random around a mean: PACED_DELAY).
    A connection's cycle is pause + latency, so two short calibration runs adjust the mean pause until 64
    connections add up to `rate`."""
    cycle_ms = PACED_CONNECTIONS / rate * 1000
    delay_ms = cycle_ms
    for _ in range(2):  # latency depends on the load, so correct the pause twice
        probe = _paced_run(port, max(1, round(delay_ms)), calibration_seconds, work)
        delay_ms += cycle_ms - PACED_CONNECTIONS / max(probe.rps, 0.1) * 1000
    result = _paced_run(port, max(1, round(delay_ms)), seconds, work)
    return {"target_rps": round(rate, 1), "achieved_rps": round(result.rps, 1), "requests": result.requests,
            "p50_ms": round(result.p50_ms, 2), "p99_ms": round(result.p99_ms, 2),
            "errors": result.non_2xx + result.socket_errors}
