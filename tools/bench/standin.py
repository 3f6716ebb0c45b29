"""A BigQuery stand-in for the benchmark: accepts `insertAll` and answers success at next to no CPU.

The service reaches it exactly as it reaches the emulator (BIGQUERY_EMULATOR_HOST, the official
google-cloud-bigquery client, real HTTP), so what the bench measures in the service is the service's
own cost: its client, its batching, its HTTP. The stand-in still parses each request's JSON and counts
rows and insertIds, so the bench can check rows = acknowledged hits and that no row came twice.

    python -m tools.bench.standin --port 9050      # GET /counts answers {"rows": ..., "duplicates": ...}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tools.local.processes import Process, ensure_port_free, spawn, wait_http

# The path google-cloud-bigquery posts insertAll to (Client.insert_rows_json, and the service's writer).
INSERT_ALL = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)/insertAll$")
SUCCESS = json.dumps({"kind": "bigquery#tableDataInsertAllResponse"}).encode()


class Counts:
    """Calls, rows and insertIds seen (every table together: the bench serves one stream)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.rows = 0
        self.duplicates = 0
        self.missing_insert_ids = 0
        self._seen: set[str] = set()

    def add(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self.calls += 1
            for row in rows:
                self.rows += 1
                insert_id = row.get("insertId")
                if not isinstance(insert_id, str):
                    self.missing_insert_ids += 1
                elif insert_id in self._seen:
                    self.duplicates += 1
                else:
                    self._seen.add(insert_id)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"calls": self.calls, "rows": self.rows, "distinct_insert_ids": len(self._seen),
                    "duplicates": self.duplicates, "missing_insert_ids": self.missing_insert_ids}


class StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    # Without this, the answer's second segment waits for the client's delayed ACK: 40 ms per call on
    # Linux, which would make the service look slow for a reason that is not the service's.
    disable_nagle_algorithm = True
    server: StandInServer

    def do_POST(self) -> None:
        body = self._read_body()
        match = INSERT_ALL.match(self.path.split("?", 1)[0])
        if match is None:
            self._answer(404, {"error": {"code": 404,
                                         "message": f"the stand-in serves only insertAll, not {self.path}"}})
            return
        try:
            request = json.loads(body)
            rows = request["rows"]
            if not isinstance(rows, list) or not all(isinstance(row, dict) and isinstance(row.get("json"), dict)
                                                     for row in rows):
                raise ValueError("rows must be a list of {insertId, json} objects")
        except (ValueError, KeyError, TypeError) as error:
            self._answer(400, {"error": {"code": 400, "message": f"invalid insertAll body: {error}"}})
            return
        self.server.counts.add(rows)
        self._send(200, SUCCESS)

    def do_GET(self) -> None:
        if self.path == "/counts":
            self._answer(200, self.server.counts.snapshot())
        else:
            self._answer(404, {"error": {"code": 404, "message": "GET /counts only"}})

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            pieces: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(pieces)
                pieces.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, data: object) -> None:
        self._send(status, json.dumps(data).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per call would cost more CPU than answering it


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    counts: Counts


def serve(host: str, port: int) -> StandInServer:
    server = StandInServer((host, port), StandInHandler)
    server.counts = Counts()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = serve(args.host, args.port)
    print(f"BigQuery stand-in on http://{args.host}:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# -- used by the bench ------------------------------------------------------------------------------

def start_standin(port: int, log_path: Path) -> Process:
    """The stand-in in a process of its own (its CPU is not the service's), answering on 127.0.0.1:`port`."""
    ensure_port_free(port, "BigQuery stand-in")
    argv = [sys.executable, "-m", "tools.bench.standin", "--port", str(port)]
    process = spawn("BigQuery stand-in", argv, log_path, dict(os.environ))
    wait_http(process, f"http://127.0.0.1:{port}/counts", 30)
    return process


def read_counts(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/counts", timeout=10) as answer:
        counts: dict[str, int] = json.loads(answer.read())
        return counts
