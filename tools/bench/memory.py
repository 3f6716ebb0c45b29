"""Peak memory of one hit in flight, and of a whole instance under a burst, as multiples of the bodies.

Two measurements. Per hit (below): the Python allocations of one hit at a time, per kind of body.
Per burst (tools/bench/memory_burst.py): a real gunicorn's peak RSS while a stream's `concurrency`
worst-case bodies arrive at once, BigQuery up (insertAll) and BigQuery down (every hit spooled),
against the stream's memory limit and infra/sizing.py's factor for each path.

Per hit:

The app (with the real batching sink and row writer, the official client's connection) posts each
body to the BigQuery stand-in (tools/bench/standin.py, in its own process) that accepts insertAll and counts
rows, so only the service's allocations are traced. tracemalloc counts Python allocations exactly, so
unlike a timing the figure does not depend on how busy the machine is. The stream model's
MEMORY_PER_BODY_FACTOR (used to check Cloud Run's memory setting) must stay above every figure printed here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import tracemalloc
from dataclasses import asdict
from pathlib import Path

from infra.sizing import INSERT_PATH_MEMORY_FACTOR, MEMORY_PER_BODY_FACTOR, SPOOL_PATH_MEMORY_FACTOR, memory_mib
from infra.streams import STREAMS
from service.model.auth_settings import NoAuth
from service.model.service_env import ServiceSpec
from service.model.stream import MAX_BODY_LIMIT, Stream
from service.runtime.app import create_app
from service.runtime.settings import ServiceSettings
from tools.bench.memory_burst import Burst, measure_burst
from tools.bench.standin import read_counts, start_standin
from tools.local.processes import free_port

# Characters whose escaping or decoding costs the most, and plain ASCII for comparison.
BODIES = {
    "ascii": "a",
    "control characters": "\x01",
    "latin accents": "\u00e9",
    "cjk": "\u4e2d",
    "emoji": "\N{GRINNING FACE}",
}


def measure(body_bytes: int = MAX_BODY_LIMIT) -> dict[str, float]:
    """{body kind: peak traced bytes while the hit is handled / body size}."""
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="hookstream-bench-memory-"))
    stand_in = start_standin(port, log_dir / "standin.log")
    try:
        stream = Stream(name="memory", dataset="bench", table="memory", auth=NoAuth(), max_body_bytes=body_bytes)
        app = create_app(ServiceSettings(spec=ServiceSpec.of(stream, "bench-project"),
                                         bigquery_emulator_host=f"http://127.0.0.1:{port}"))
        client = app.test_client()
        assert client.post("/hooks", data=b"warm=up").status_code == 200  # imports, connection pool
        factors: dict[str, float] = {}
        for kind, character in BODIES.items():
            body = (character * (body_bytes // len(character.encode()))).encode()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            response = client.post("/hooks", data=body)
            peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.stop()
            if response.status_code != 200:
                raise RuntimeError(f"{kind}: the hit was answered {response.status_code}: {response.get_data()!r}")
            factors[kind] = round(peak / len(body), 2)
            del body
        app.close_sink()
        stored = read_counts(f"http://127.0.0.1:{port}")["rows"]
        if stored != len(BODIES) + 1:
            raise RuntimeError(f"the stand-in received {stored} rows for {len(BODIES) + 1} hits")
        return factors
    finally:
        stand_in.stop()
        shutil.rmtree(log_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench-memory", description=__doc__.splitlines()[0])
    parser.add_argument("--body-bytes", type=int, default=MAX_BODY_LIMIT, help="the per-hit measurement's body")
    parser.add_argument("--stream", choices=[s.name for s in STREAMS], default=STREAMS[0].name,
                        help="whose shipped settings the burst uses (concurrency, max_body_bytes, memory)")
    parser.add_argument("--skip-burst", action="store_true", help="only the per-hit measurement")
    args = parser.parse_args(argv)
    factors = measure(args.body_bytes)
    for kind, factor in factors.items():
        print(f"{kind:>20}: peak {factor:.2f} x the body ({args.body_bytes} bytes)")
    worst = max(factors.values())
    print(f"worst {worst:.2f}x; the stream model assumes at most {MEMORY_PER_BODY_FACTOR}x")
    ok = worst <= MEMORY_PER_BODY_FACTOR
    bursts: list[Burst] = []
    if not args.skip_burst:
        stream = next(s for s in STREAMS if s.name == args.stream)
        for bigquery_up in (True, False):
            burst = measure_burst(stream, bigquery_up)
            bursts.append(burst)
            ok = print_burst(burst, memory_mib(stream.run.memory)) and ok
    print(json.dumps({"body_bytes": args.body_bytes, "peak_factor": factors, "worst": worst,
                      "model_factor": MEMORY_PER_BODY_FACTOR,
                      "bursts": [{**asdict(burst), "per_body_factor": burst.per_body_factor} for burst in bursts]}))
    return 0 if ok else 1


def print_burst(burst: Burst, limit_mib: int) -> bool:
    """One line per burst; False if it broke the memory limit, lost a hit or beat the path's factor."""
    # BigQuery up: a hit BigQuery has not stored within the answer budget is spooled while its write goes on
    # (the hedge), so both answers are a success; BigQuery down: every hit must be spooled.
    acknowledged = {"stored", "spooled"} if burst.bigquery == "up" else {"spooled"}
    factor = INSERT_PATH_MEMORY_FACTOR if burst.bigquery == "up" else SPOOL_PATH_MEMORY_FACTOR
    answered = ", ".join(f"{count} {outcome}" for outcome, count in sorted(burst.answers.items()))
    print(f"burst, BigQuery {burst.bigquery:>4}: {burst.hits} x {burst.body_bytes} bytes at once: {answered}; "
          f"idle {burst.idle_mib:.0f} MiB, peak {burst.peak_mib:.0f} MiB = {burst.peak_mib / limit_mib:.2f} "
          f"of the {limit_mib} MiB limit; {burst.per_body_factor:.2f}x the bodies in flight "
          f"(infra/sizing.py assumes {factor}x)")
    all_acknowledged = set(burst.answers) <= acknowledged and sum(burst.answers.values()) == burst.hits
    return all_acknowledged and burst.peak_mib < limit_mib and burst.per_body_factor <= factor


if __name__ == "__main__":
    raise SystemExit(main())
