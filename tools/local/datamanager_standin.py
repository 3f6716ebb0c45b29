"""A local stand-in for Google's Data Manager API (REST), for scripts/dev and the tests.

Google's own client (`google-ads-datamanager`, REST transport) talks to it unchanged: point its
`client_options.api_endpoint` at `http://127.0.0.1:<port>` with anonymous credentials. It serves the
two methods the upload uses, with the JSON shapes of Google's REST API
(https://developers.google.com/data-manager/api/reference/rest):

- `POST /v1/events:ingest`: records the request body and answers `{"requestId": ...}`;
- `GET /v1/requestStatus:retrieve?requestId=...`: answers the request's status per destination (SUCCESS, or
  PARTIAL_SUCCESS / FAILED with an error count when told to refuse a transaction id).

And, for a person or a test, under `/standin/`:
- `GET /standin/requests`: every ingest request received, in order (`{"requests": [{"status", "body"}]}`);
- `POST /standin/fail` `{"status": 429 | 500, "times": n}`: answer the next n ingests with that error;
- `POST /standin/reject` `{"transaction_id": "..."}`: report events with that id as invalid in the status;
- `POST /standin/reset`: forget everything.

State is in memory only. Run: `python -m tools.local.datamanager_standin --port 9070`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tools.local.json_http import answer
from tools.local.processes import Process, ensure_port_free, spawn, wait_http

# Google's error statuses for the answers the stand-in can be told to give.
# What a refused transaction id's events are reported as (a ProcessingErrorReason of Data Manager).
REJECTED_REASON = "PROCESSING_ERROR_REASON_INVALID_GCLID"
ERROR_STATUS = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class StandinState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures: list[int] = []
        self.rejected: set[str] = set()
        self.statuses: dict[str, dict[str, Any]] = {}

    def ingest(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.failures:
                code = self.failures.pop(0)
                self.requests.append({"status": code, "body": body})
                return code, {"error": {"code": code, "status": ERROR_STATUS.get(code, "UNKNOWN"),
                                        "message": f"stand-in told to answer {code}"}}
            request_id = str(uuid.uuid4())
            events = body.get("events", [])
            refused = sum(1 for event in events if event.get("transactionId") in self.rejected)
            self.statuses[request_id] = _status(body, len(events), refused)
            self.requests.append({"status": 200, "body": body, "requestId": request_id})
            return 200, {"requestId": request_id}

    def retrieve(self, request_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            status = self.statuses.get(request_id)
        if status is None:
            return 404, {"error": {"code": 404, "status": "NOT_FOUND", "message": f"no request {request_id}"}}
        return 200, status


def _status(body: dict[str, Any], count: int, refused: int) -> dict[str, Any]:
    if refused == 0:
        outcome: dict[str, Any] = {"requestStatus": "SUCCESS"}
    else:
        outcome = {"requestStatus": "FAILED" if refused == count else "PARTIAL_SUCCESS",
                   "errorInfo": {"errorCounts": [{"recordCount": str(refused), "reason": REJECTED_REASON}]}}
    return {"requestStatusPerDestination": [
        {"destination": destination, **outcome, "eventsIngestionStatus": {"recordCount": str(count)}}
        for destination in body.get("destinations", [{}])]}


def make_handler(state: StandinState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests read the records
            return

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            answer(self, code, body)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            parsed: dict[str, Any] = json.loads(raw or b"{}")
            return parsed

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/v1/requestStatus:retrieve":  # the REST mapping is GET with ?requestId=
                self._answer(*state.retrieve(parse_qs(query).get("requestId", [""])[0]))
            elif self.path == "/standin/requests":
                with state.lock:
                    self._answer(200, {"requests": list(state.requests)})
            elif self.path == "/health":
                self._answer(200, {"status": "ok"})
            else:
                self._answer(404, {"error": {"code": 404, "message": self.path}})

        def do_POST(self) -> None:
            body = self._body()
            if self.path.startswith("/v1/events:ingest"):
                self._answer(*state.ingest(body))
            elif self.path == "/standin/fail":
                with state.lock:
                    state.failures += [int(body["status"])] * int(body.get("times", 1))
                self._answer(200, {"failures": len(state.failures)})
            elif self.path == "/standin/reject":
                with state.lock:
                    state.rejected.add(str(body["transaction_id"]))
                self._answer(200, {"rejected": sorted(state.rejected)})
            elif self.path == "/standin/reset":
                with state.lock:
                    state.reset()
                self._answer(200, {})
            else:
                self._answer(HTTPStatus.NOT_FOUND, {"error": {"code": 404, "message": self.path}})

    return Handler


def serve(port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A started server (its own thread); `shutdown()` stops it."""
    server = ThreadingHTTPServer((host, port), make_handler(StandinState()))
    threading.Thread(target=server.serve_forever, name="datamanager-standin", daemon=True).start()
    return server


def start_datamanager_standin(port: int, log_path: Path) -> tuple[Process, str]:
    """The stand-in as a process of its own (scripts/dev); returns it and its URL."""
    ensure_port_free(port, "Data Manager stand-in")
    process = spawn("datamanager stand-in", [sys.executable, "-m", "tools.local.datamanager_standin",
                                             "--port", str(port)], log_path, os.environ)
    url = f"http://127.0.0.1:{port}"
    wait_http(process, f"{url}/health", timeout=30)
    return process, url


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Data Manager API stand-in (docs/ads.md)")
    parser.add_argument("--port", type=int, default=9070)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(StandinState()))
    print(f"Data Manager stand-in on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
