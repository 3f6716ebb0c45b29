"""The benchmark's parts: the BigQuery stand-in counts what the real client sends, and `scripts/bench`
reports every figure it promises. No timing is asserted: the figures depend on how busy the machine is."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.runtime.bigquery_client import make_client
from tools.bench.standin import StandInServer, serve

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stand_in() -> Iterator[tuple[StandInServer, str]]:
    server = serve("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def counts(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/counts", timeout=10) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def test_the_stand_in_counts_rows_and_repeated_insert_ids_sent_by_the_official_client(
        stand_in: tuple[StandInServer, str]) -> None:
    _, url = stand_in
    client = make_client("bench", url)
    table = "bench.bench.hits"
    rows = [{"hit_id": "a", "payload": "x=1"}, {"hit_id": "b", "payload": "x=2"}, {"hit_id": "c", "payload": "x=3"}]
    assert client.insert_rows_json(table, rows, row_ids=["a", "b", "c"]) == []
    # "b" again: a resent row, which BigQuery would drop by insertId and the bench must count as a duplicate.
    assert client.insert_rows_json(table, rows[1:2], row_ids=["b"]) == []
    client.close()
    assert counts(url) == {"calls": 2, "rows": 4, "distinct_insert_ids": 3, "duplicates": 1, "missing_insert_ids": 0}


def test_the_stand_in_refuses_what_is_not_an_insert_all(stand_in: tuple[StandInServer, str]) -> None:
    _, url = stand_in
    bad_body = urllib.request.Request(f"{url}/bigquery/v2/projects/p/datasets/d/tables/t/insertAll",
                                      data=b'{"rows": "not a list"}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad_body, timeout=10)
    assert refused.value.code == 400
    other_path = urllib.request.Request(f"{url}/bigquery/v2/projects/p/queries", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as unknown:
        urllib.request.urlopen(other_path, timeout=10)
    assert unknown.value.code == 404
    assert counts(url)["rows"] == 0


MODE_FIELDS = {"rps", "rps_ratio", "cpu_ms_per_hit", "cpu_ratio", "p50_ms", "p99_ms", "half_saturation",
               "rows_per_write_call", "peak_rss_mb", "cold_start", "lone_hit", "acknowledged", "rows_stored",
               "duplicates", "errors", "cost_per_million_hits"}
BASELINE_FIELDS = {"rps", "cpu_ms_per_hit", "p50_ms", "p99_ms", "half_saturation", "peak_rss_mb", "cold_start",
                   "errors"}


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk (Debian package) is not installed")
def test_a_tiny_bench_run_reports_every_figure_and_stores_every_acknowledged_hit() -> None:
    argv = [sys.executable, "-m", "tools.bench.load", "--modes", "standin", "--seconds", "1", "--warmup", "0",
            "--half-seconds", "1", "--calibration-seconds", "1", "--cold-starts", "1", "--lone-hits", "2",
            "--connections", "16", "--threads", "8"]
    run = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(report["baseline"]) >= BASELINE_FIELDS, set(report["baseline"])
    standin = report["standin"]
    assert set(standin) >= MODE_FIELDS, MODE_FIELDS - set(standin)
    assert {"p50_ms", "p99_ms", "achieved_rps", "errors"} <= set(standin["half_saturation"])
    assert {"median_s", "runs_s"} <= set(standin["cold_start"]) and len(standin["cold_start"]["runs_s"]) == 1
    assert {"p50_ms", "write_call_ms", "overhead_ms"} <= set(standin["lone_hit"])
    assert standin["errors"] == 0
    assert standin["acknowledged"] > 0
    assert standin["rows_stored"] == standin["acknowledged"]
    assert standin["duplicates"] == 0
    if len(os.sched_getaffinity(0)) >= 2:  # the service ran on a CPU of its own, as on a 1-vCPU Cloud Run instance
        config = report["config"]
        assert len(config["service_cpus"]) == 1
        assert standin["worker_cpus"] == config["service_cpus"]
        assert not set(config["service_cpus"]) & set(config["tool_cpus"])
    assert set(report["targets_met"]) == {
        "cpu_ratio_le_1_15", "rps_ratio_ge_0_85", "half_saturation_p99_le_20ms", "lone_hit_overhead_le_2ms",
        "cold_start_le_0_5s", "zero_errors_all_stored_no_duplicates"}
