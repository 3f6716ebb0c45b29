"""A proxy in front of the BigQuery emulator, for faults the emulator cannot produce (a slow or refusing BigQuery):
the fault tests and scripts/bench-outage put it between the service and the emulator."""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

JSON = {"Content-Type": "application/json"}


class BigQueryProxy:
    """Forwards every request to the emulator; a subclass answers some insertAll calls itself (`intercept`)
    the way BigQuery would, for faults the emulator cannot produce."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.forward(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def is_insert_all(handler: BaseHTTPRequestHandler) -> bool:
        return handler.command == "POST" and handler.path.split("?")[0].endswith("/insertAll")

    def intercept(self, body: bytes) -> tuple[int, bytes] | None:
        """(status, JSON body) to answer an insertAll with instead of the emulator; None forwards it."""
        return None

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        answer = self.intercept(body) if self.is_insert_all(handler) else None
        if answer is not None:
            self.reply(handler, answer[0], JSON, answer[1])
            return
        connection = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port,
                                                timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("connection", "host")}
            connection.request(handler.command, handler.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = {k: v for k, v in response.getheaders()
                    if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive")}
            self.reply(handler, response.status, kept, payload)
        except OSError:
            self.reply(handler, 502, {"Content-Type": "text/plain"}, b"emulator unreachable")
        finally:
            connection.close()

    @staticmethod
    def reply(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

class SlowInsertProxy(BigQueryProxy):
    """Holds every insertAll for `delay_seconds` before forwarding it: a BigQuery that is slow, not down."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.delay_seconds = 0.0

    def intercept(self, body: bytes) -> tuple[int, bytes] | None:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        return None
