"""gunicorn's threaded worker, with a time limit on reading a request's headers, and no 5xx for a
request the sender got wrong.

gthread waits up to 5 s for a new connection's first byte, but then reads the headers with a blocking
socket and no limit: a client that sends half a request line and stops holds one of the instance's
threads for good (`concurrency` such clients stall the instance). Here each read of the headers gives
up after the spec's read_timeout_seconds (HOOKSTREAM_READ_TIMEOUT_SECONDS); the body has its own
whole-body limit (service/runtime/request_body.py).
"""

from __future__ import annotations

from typing import Any

from gunicorn.http.errors import InvalidHeader, UnsupportedTransferCoding
from gunicorn.workers.gthread import ThreadWorker

from service.runtime.settings import process_settings


class BoundedReadsWorker(ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout = process_settings().spec.read_timeout_seconds

    def handle(self, conn: Any) -> Any:
        # gthread makes the socket blocking (no timeout) and then calls conn.init() before it parses the
        # headers, on every request of a connection: that is the moment to put a limit on each read.
        if not getattr(conn, "hookstream_bounded", False):
            initialise = conn.init
            timeout = self._read_timeout

            def init_with_read_timeout() -> None:
                initialise()
                conn.sock.settimeout(timeout)

            conn.init = init_with_read_timeout
            conn.hookstream_bounded = True
        return super().handle(conn)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # gunicorn answers 501 to a Transfer-Encoding it does not know (`xchunked`, `chunked;q=1`), as
        # RFC 9112 suggests. To a CRM a 5xx means "the server failed, retry": this request will fail
        # the same way every time, so it is the sender's 400.
        if isinstance(exc, UnsupportedTransferCoding):
            exc = InvalidHeader("Transfer-Encoding")
        super().handle_error(req, client, addr, exc)
