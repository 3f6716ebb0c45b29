"""Which BigQuery API calls the deployed service makes: infra/permissions.py lists exactly these for it.

A recording HTTP proxy sits between a real gunicorn-served stream and the emulator. The service must make
nothing but tabledata.insertAll; a call the table does not list (a tables.get of the schema, a
datasets.get) would need permissions the writer's roles may not hold, so this test fails before a deploy
would. Which permissions insertAll itself needs comes from Google's reference, not from this recording
(tests/infra/test_permissions.py): the emulator checks none.
"""

from __future__ import annotations

import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from infra.permissions import STREAM_WRITER
from service.model.service_env import BIGQUERY_EMULATOR_HOST
from service.model.stream import Stream
from tests.conftest import Emulator, ServiceFactory

pytestmark = pytest.mark.integration


class RecordingProxy:
    """Forwards every request to `target` and records (method, path)."""

    def __init__(self, target: str) -> None:
        self.calls: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                proxy.calls.append((self.command, urlsplit(self.path).path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")}
                upstream = urllib.request.Request(target + self.path, data=body, headers=headers,
                                                  method=self.command)
                try:
                    with urllib.request.urlopen(upstream, timeout=30) as response:
                        status, payload, kind = response.status, response.read(), response.headers.get(
                            "Content-Type", "application/json")
                except urllib.error.HTTPError as error:
                    status, payload, kind = error.code, error.read(), error.headers.get(
                        "Content-Type", "application/json")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(emulator: Emulator) -> Iterator[RecordingProxy]:
    recording = RecordingProxy(emulator.url)
    yield recording
    recording.close()


def test_the_service_only_calls_insert_all(emulator: Emulator, start_stream_service: ServiceFactory,
                                           proxy: RecordingProxy) -> None:
    stream = Stream(name="perm-probe", dataset="perm_probe", table="hits")
    service = start_stream_service(stream, extra_env={BIGQUERY_EMULATOR_HOST: proxy.url})
    result = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-d", "orderId=P1",
                             f"{service.hooks_url}/{service.secrets[0]}"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout == "200", result.stderr
    # The write really went through the proxy: the row is in the table.
    rows = emulator.query("SELECT payload FROM perm_probe.hits")
    assert rows == [{"payload": "orderId=P1"}]
    assert proxy.calls == [("POST", "/bigquery/v2/projects/hookstream-test/datasets/perm_probe/tables/hits/insertAll")]
    # The table lists exactly this BigQuery method for the stream's account (and the spool's upload).
    assert [method.name for method in STREAM_WRITER.calls if method.name.startswith("bigquery.")] == [
        "bigquery.tabledata.insertAll"]
