"""What the spool tests share: the BigQuery and Cloud Storage emulators (each restartable on its own port and
data), a stream's settings as its service and replay read them, and the replay run as its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from service.model.service_env import BIGQUERY_EMULATOR_HOST, SPOOL_URL, ServiceSpec, to_env
from service.model.spool import spool_prefix, spool_url
from service.model.spool_document import row_from_document
from service.model.stream import Stream
from service.runtime.bigquery_client import make_client
from tools.local.gcs_emulator import STORAGE_EMULATOR_HOST, ensure_bucket, start_gcs_emulator
from tools.local.processes import REPO_ROOT, Process, free_port, start_emulator
from tools.local.spool_replay import replay_process_env

PROJECT = "hookstream-spool"
BUCKET = "hookstream-spool-test"
# Short, so a stopped BigQuery turns into spooled hits within a second (the default is 10 s).
DEADLINE_SECONDS = 1.0


# -- the emulators, each restartable on its own port and data ------------------------------------

class Emulators:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bq_rest, self.bq_grpc, self.gcs_port = free_port(), free_port(), free_port()
        self.bigquery: Process | None = None
        self.gcs: Process | None = None
        self.bigquery_url = self.gcs_url = ""
        self.start_bigquery()
        self.start_gcs()
        ensure_bucket(self.gcs_url, BUCKET)
        self.client = make_client(PROJECT, self.bigquery_url)
        self.storage = self._storage_client()

    def start_bigquery(self) -> None:
        self.bigquery, self.bigquery_url = start_emulator(self.root / "bq", PROJECT, self.bq_rest, self.bq_grpc,
                                                          self.root / "bq.log")

    def stop_bigquery(self) -> None:
        assert self.bigquery is not None
        self.bigquery.stop()

    def start_gcs(self) -> None:
        self.gcs, self.gcs_url = start_gcs_emulator(self.root / "gcs", self.gcs_port, self.root / "gcs.log")

    def stop_gcs(self) -> None:
        assert self.gcs is not None
        self.gcs.stop()

    def _storage_client(self) -> Any:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[attr-defined]

        return storage.Client(project=PROJECT, credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                              client_options=ClientOptions(api_endpoint=self.gcs_url))

    def rows_per_hit(self, stream: Stream) -> Counter[str]:
        sql = f"SELECT hit_id, COUNT(*) AS n FROM `{PROJECT}.{stream.table_ref}` GROUP BY hit_id"
        return Counter({row["hit_id"]: row["n"] for row in self.client.query(sql, timeout=30).result(timeout=60)})

    def payloads_in_table(self, stream: Stream) -> set[str]:
        sql = f"SELECT payload FROM `{PROJECT}.{stream.table_ref}`"
        return {row["payload"] for row in self.client.query(sql, timeout=30).result(timeout=60)}

    def spooled(self, stream: Stream) -> dict[str, dict[str, Any]]:
        """hit_id -> spooled row, for every object in the stream's spool."""
        found = {}
        for blob in self.storage.list_blobs(BUCKET, prefix=spool_prefix(stream.name)):
            row = row_from_document(blob.download_as_bytes())
            found[row["hit_id"]] = dict(row)
        return found


def service_environment(emulators: Emulators, stream: Stream, bigquery_url: str,
                        **spec_changes: Any) -> dict[str, str]:
    spec = replace(ServiceSpec.of(stream, PROJECT), **{"threads": 16, "write_deadline_seconds": DEADLINE_SECONDS,
                                                        **spec_changes})
    return {**to_env(spec), BIGQUERY_EMULATOR_HOST: bigquery_url,
            SPOOL_URL: spool_url(BUCKET, stream.name), STORAGE_EMULATOR_HOST: emulators.gcs_url}


# -- replay, as the Cloud Run job runs it ---------------------------------------------------------

@dataclass
class ReplayRun:
    returncode: int
    report: dict[str, Any]  # the "replay finished" log line, as Cloud Logging would get it
    output: str

    def lines(self, message: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.output.splitlines()
                if line.startswith("{") and json.loads(line).get("message") == message]


# The fault tests replay hits spooled a moment ago, after the write for them had failed (no write still in
# flight): they replay at once instead of waiting for the write-in-flight window, which has tests of its own.
AT_ONCE = ("--min-age-seconds", "0")


def replay_process(emulators: Emulators, stream: Stream, *args: str, at_once: bool = True,
                   bigquery_url: str | None = None) -> subprocess.Popen[str]:
    env = replay_process_env(service_environment(emulators, stream, bigquery_url or emulators.bigquery_url))
    argv = [*AT_ONCE, *args] if at_once else list(args)
    return subprocess.Popen([sys.executable, "-m", "service.runtime.replay", *argv], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(process: subprocess.Popen[str]) -> ReplayRun:
    try:
        output, _ = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        process.kill()  # our own replay, by its PID: leave nothing running behind a failed test
        output, _ = process.communicate(timeout=30)
        raise AssertionError(f"the replay did not finish in 300 s:\n{output[-3000:]}") from None
    reports = [json.loads(line) for line in output.splitlines()
               if line.startswith("{") and '"replay finished"' in line]
    assert reports, f"replay printed no report (exit {process.returncode}):\n{output[-3000:]}"
    return ReplayRun(process.returncode, reports[-1], output)


def replay(emulators: Emulators, stream: Stream, *args: str, at_once: bool = True,
           bigquery_url: str | None = None) -> ReplayRun:
    return finished(replay_process(emulators, stream, *args, at_once=at_once, bigquery_url=bigquery_url))


