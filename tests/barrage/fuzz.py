"""`scripts/fuzz`: the framing barrage against a real gunicorn and BigQuery emulator it starts itself.

Random raw HTTP/1.1 requests (tests/barrage/framing.py) from a few connections on 127.0.0.1, then the
figures (tests/barrage/framing_barrage.py) as a table and, last, one JSON line. Exit code 0 only when
every check passed: no 5xx, no row from a refused request, no payload that differs from what was
sent, the token in no log line, every valid hit stored, /health still answering.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from service.model.auth_settings import TokenAuth
from service.model.service_env import BIGQUERY_EMULATOR_HOST, SECRETS, ServiceSpec, to_env
from service.model.stream import Stream
from service.runtime.bigquery_client import make_client
from tests.barrage.framing import Target, make_case
from tests.barrage.framing_barrage import health_answers, judge, report, send_cases, table_rows
from tools.local.processes import Process, free_port, start_emulator, start_service
from tools.local.provision import provision

PROJECT = "hookstream-fuzz"
STREAM = Stream(name="fuzz", dataset="fuzz", table="hits", max_body_bytes=4096, auth=TokenAuth())


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="hookstream-fuzz-"))
    token = secrets.token_urlsafe(32)
    target = Target(token=token, max_body_bytes=STREAM.max_body_bytes)
    started: list[Process] = []
    try:
        emulator, emulator_url = start_emulator(work / "emulator", PROJECT, free_port(), free_port(),
                                                work / "emulator.log")
        started.append(emulator)
        client = make_client(PROJECT, emulator_url)
        provision(client, [STREAM], PROJECT)
        spec = replace(ServiceSpec.of(STREAM, PROJECT), threads=args.threads)
        env = {**to_env(spec), BIGQUERY_EMULATOR_HOST: emulator_url, SECRETS: token}
        port = free_port()
        service = start_service(STREAM.name, env, port, work / "service.log", workers=args.workers)
        started.append(service)
        print(f"seed {args.seed}: {args.cases} cases from {args.concurrency} connections to 127.0.0.1:{port} "
              f"(gunicorn {args.workers} worker x {args.threads} threads); logs in {work}", flush=True)

        began = time.monotonic()
        step = max(args.cases // 10, 1)

        def progress(done: int) -> None:
            if done % step == 0:
                print(f"  {done} cases sent ({time.monotonic() - began:.0f} s)", flush=True)

        cases = (make_case(args.seed, number, target) for number in range(args.cases))
        outcomes = send_cases(port, cases, args.concurrency, deadline=began + args.max_minutes * 60,
                              progress=progress)
        sent_seconds = time.monotonic() - began
        healthy = health_answers(port)
        service.stop()  # graceful: in-flight hits finish, so the table and the log are complete
        rows = table_rows(client, f"{PROJECT}.{STREAM.table_ref}")
        client.close()
        verdict = judge(outcomes, rows, service.log_path.read_text(errors="replace"), token, healthy)
    finally:
        for process in reversed(started):
            process.stop()
    print(report(verdict), flush=True)
    if verdict.passed and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"logs and emulator data kept in {work}")
    figures = verdict.figures()
    return {"seed": args.seed, **figures, "duration_seconds": round(sent_seconds, 1),
            "cases_per_second": round(len(outcomes) / max(sent_seconds, 1e-9), 1)}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="requests to send (default 10000)")
    parser.add_argument("--seed", type=int, default=None, help="run seed (default: random, printed)")
    parser.add_argument("--concurrency", type=int, default=4, help="connections at a time (default 4)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1)")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn threads per worker (default 16)")
    parser.add_argument("--max-minutes", type=float, default=30, help="stop starting cases after this (default 30)")
    parser.add_argument("--keep", action="store_true", help="keep the logs and emulator data even if all passed")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = secrets.randbelow(10**9)
    return args


def main(argv: list[str] | None = None) -> int:
    result = run(parse_args(sys.argv[1:] if argv is None else argv))
    print(json.dumps(result, sort_keys=True))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
