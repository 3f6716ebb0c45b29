"""What the fault tests share: a proxy in front of the BigQuery emulator, a gunicorn's worker PIDs, a pause."""

from __future__ import annotations

import threading
from pathlib import Path

from tools.bench.bigquery_proxy import JSON, BigQueryProxy
from tools.local.processes import Process

__all__ = ["JSON", "BigQueryProxy", "after", "worker_pids"]


def worker_pids(master: Process) -> list[int]:
    """The PIDs of a gunicorn arbiter's workers (its children)."""
    pid = master.popen.pid
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def after(seconds: float) -> None:
    threading.Event().wait(seconds)
