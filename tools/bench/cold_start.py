"""Cold start: from starting the server process to the first hit it answered 2xx (for hookstream: stored).

Each start is a fresh gunicorn (master, then a worker that imports the app), as when Cloud Run starts an
instance for a request: the clock starts just before the process is spawned, and one hit is sent as soon as
the port accepts connections, then again every few milliseconds until it is answered 2xx.
"""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from tools.local.processes import Process

RETRY_SECONDS = 0.005


def first_2xx_seconds(start: Callable[[], Process], port: int, body: bytes, timeout: float = 60.0) -> float:
    """Seconds from `start()` (which spawns the server on `port` without waiting for it) to the first 2xx."""
    began = time.perf_counter()
    process = start()
    try:
        while time.perf_counter() - began < timeout:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited with code {process.popen.returncode} before answering:\n"
                                   f"{process.log_tail()}")
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            try:
                connection.request("POST", "/hooks", body=body,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
                status = connection.getresponse().status
            except OSError:  # not listening yet
                time.sleep(RETRY_SECONDS)
                continue
            finally:
                connection.close()
            if 200 <= status < 300:
                return time.perf_counter() - began
            time.sleep(RETRY_SECONDS)  # e.g. a 503 while the app is not ready: keep asking
        raise RuntimeError(f"{process.name} answered no hit with 2xx within {timeout:.0f} s:\n{process.log_tail()}")
    finally:
        process.stop()


def cold_starts(start: Callable[[int], Process], free_port: Callable[[], int], body: bytes,
                runs: int) -> dict[str, Any]:
    """`runs` fresh starts; the median and each run, in seconds."""
    seconds = []
    for _ in range(runs):
        port = free_port()
        seconds.append(first_2xx_seconds(partial(start, port), port, body))
    return {"median_s": round(statistics.median(seconds), 3), "runs_s": [round(s, 3) for s in seconds]}
