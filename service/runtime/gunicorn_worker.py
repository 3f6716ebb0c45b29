"""gunicorn's threaded worker, spending a thread only on a request that is ready to be worked on.

A thread of the pool (one per request Cloud Run may send at once) is never spent waiting on a client:
- Headers are gathered on the main loop, non-blocking; a connection goes to a thread only once its header
  block is complete, and is closed if that takes longer than the read timeout in total
  (HOOKSTREAM_READ_TIMEOUT_SECONDS), whatever the pace of its bytes. gthread instead waited up to 5 s for a
  new connection's first byte on a thread, then read headers there with no total limit. The body has its
  own whole-body limit (service/runtime/request_body.py).
- An answer given before the body was read (a refusal) closes the connection, lingering on the main loop
  rather than draining the body on a thread (gunicorn ignores an application's `Connection: close`).
- A hit waiting for its row's verdict is parked (service/runtime/parking.py): the view returns at once, the
  thread goes back to the pool, the connection stays open (counted in nr_conns, so a stopping worker waits
  for it within graceful_timeout), and the answer is written when it comes, by the thread that gives it,
  with one non-blocking send (a small answer fits the socket's buffer), or, should the buffer be full, by a
  pool thread. Then the connection goes back to the main loop as gthread's own requests do.
And a request the sender got wrong is never a 5xx. What this relies on in gunicorn 27.0.1 (the pinned
version) is fingerprinted by tests/runtime/test_worker_upstream.py.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent import futures
from datetime import datetime
from functools import partial
from typing import Any

from flask import Response
from gunicorn import util
from gunicorn.http import wsgi
from gunicorn.http.errors import InvalidHeader, UnsupportedTransferCoding
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import ThreadWorker

from service.runtime.parking import offer_parking
from service.runtime.settings import process_settings

log = logging.getLogger("hookstream.worker")

_PARKED = object()  # what handle() returns for a parked request: its connection is finished later
LINGER_SECONDS = 2.0  # gunicorn's own close_graceful bounds, kept; only off the threads
LINGER_MAX_BYTES = 64 * 1024
LINGER_READ_BYTES = 16 * 1024
HEADER_END = b"\r\n\r\n"
GATHER_READ_BYTES = 64 * 1024
# A header block this large goes to the parser as it is (gunicorn's own limits refuse what is too long).
MAX_GATHERED_BYTES = 64 * 1024


def _asks_to_close(headers: list[tuple[str, str]]) -> bool:
    return any(name.lower() == "connection" and value.strip().lower() == "close" for name, value in headers)


def _parked(fs: futures.Future[Any]) -> bool:
    return not fs.cancelled() and fs.exception() is None and fs.result() is _PARKED


class _Buffer:
    """Takes what gunicorn's Response writes, so an answer is one send (and can be sent non-blocking)."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.pieces.append(bytes(data))


class _ParkedRequest:
    """The `Parking` of one request (service/runtime/parking.py)."""

    def __init__(self, worker: ThreadSparingWorker, req: Any, conn: Any) -> None:
        self._worker, self._req, self._conn = worker, req, conn
        self.parked = False

    def park(self) -> Callable[[Response], None]:
        self.parked = True
        return self._answer

    def placeholder(self) -> Response:
        return Response(status=204)  # never sent: handle_request sees `parked` and drops it

    def cancel(self) -> None:
        self.parked = False

    def run_blocking(self, job: Callable[[], None]) -> None:
        self._worker.run_blocking(job)

    def _answer(self, response: Response) -> None:
        self._worker.answer_parked(self._req, self._conn, response)


class ThreadSparingWorker(ThreadWorker):  # type: ignore[misc]
    alive: bool  # gunicorn's Worker sets it; declared for the type checker

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout = process_settings().spec.read_timeout_seconds
        # Parked requests' answers (connection, bytes, keep-alive), waiting for the main loop to send them.
        self._answered: list[tuple[Any, bytes, bool]] = []
        self._answered_scheduled = False
        self._answered_lock = threading.Lock()
        self._loop_done = False  # set when the main loop's queue closes: answers are then sent directly
        self._undrained: set[Any] = set()  # connections whose answer came before their body was read
        self._lingering: dict[Any, list[float]] = {}  # main loop only: connection -> [deadline, bytes discarded]
        self._gathering: dict[Any, list[Any]] = {}  # main loop only: connection -> [deadline, header bytes so far]
        self._close_queue = self.method_queue.close
        self.method_queue.close = self._close_method_queue

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

    # -- parking -------------------------------------------------------------------------------------

    def handle_request(self, req: Any, conn: Any) -> Any:
        """gthread's handle_request (gunicorn 27.0.1, the pinned version), offering the app a Parking.
        A parked request's placeholder response is not sent: _PARKED is returned instead."""
        environ: dict[str, Any] = {}
        resp = None
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(req, conn.sock, conn.client, conn.server, self.cfg)
            environ["wsgi.multithread"] = True
            parking = _ParkedRequest(self, req, conn)
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
                resp.force_close()
            if not self.alive or not self.cfg.keepalive or len(self.keepalived_conns) >= self.max_keepalived:
                resp.force_close()

            def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                # gunicorn drops an application's `Connection: close` (a hop-by-hop header) and would keep the
                # connection, draining an unread body on this thread first. The app says close exactly when
                # it answered before reading the body (a refusal): then the connection closes, undrained.
                if _asks_to_close(headers):
                    resp.force_close()
                    with self._answered_lock:
                        self._undrained.add(conn)
                return resp.start_response(status, headers, exc_info)

            withdraw = offer_parking(parking)
            try:
                respiter = self.wsgi(environ, start_response)
            finally:
                withdraw()
            if parking.parked:
                if hasattr(respiter, "close"):
                    respiter.close()
                return _PARKED
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ, datetime.now() - request_start)
                if hasattr(respiter, "close"):
                    respiter.close()
            if resp.should_close():
                self.log.debug("Closing connection.")
                return False
        except OSError:
            raise
        except (Exception, SystemExit):
            if resp and resp.headers_sent:
                # Timeout abort is SystemExit. If we already started the response, writing a 500 on the
                # same socket corrupts it.
                self.log.exception("Error handling request")
                util.close_graceful(conn.sock)
                raise StopIteration() from None
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")
        return True

    def _keepalive_after(self, conn: Any, keepalive: Any) -> Any:
        # A parked request's body was read whole by the app, and its connection is another thread's now.
        if keepalive is _PARKED:
            return _PARKED
        return super()._keepalive_after(conn, keepalive)

    def enqueue_req(self, conn: Any) -> None:
        """gthread's, once the request's header block is complete (gathered on the main loop until then),
        minus the main loop's wake-up for a parked request (its answer hands the connection back)."""
        if self._gathers_headers(conn) and not self._headers_complete(conn):
            self._gather_headers(conn)
            return
        self._submit(conn)

    def _submit(self, conn: Any) -> None:
        fs = self.tpool.submit(self.handle, conn)
        fs.add_done_callback(lambda done: None if _parked(done) else self.method_queue.defer(self.finish_request,
                                                                                               conn, done))

    def finish_request(self, conn: Any, fs: Any) -> None:
        if _parked(fs):
            return  # its answer hands the connection back (_send_answered)
        with self._answered_lock:
            undrained = conn in self._undrained
            self._undrained.discard(conn)
        if undrained and not fs.cancelled() and fs.exception() is None and fs.result() is False:
            self._linger(conn)
            return
        super().finish_request(conn, fs)

    # -- request headers, gathered without a thread ----------------------------------------------------

    def _gathers_headers(self, conn: Any) -> bool:
        # TLS and HTTP/2 start differently; Cloud Run and scripts/dev speak plain HTTP/1.1 to the container.
        return not self.cfg.is_ssl and not negotiation.prior_knowledge_allowed(self.cfg, conn.client)

    @staticmethod
    def _headers_complete(conn: Any) -> bool:
        """Whether the bytes gunicorn already read ahead hold a whole header block (pipelined requests)."""
        return conn.parser is not None and HEADER_END in conn.parser.unreader.buf.getvalue()

    def _gather_headers(self, conn: Any) -> None:
        """On the main loop: read the request's headers as they come, non-blocking; the connection goes to a
        pool thread only once they are complete. A client that sends its headers a byte at a time, or
        nothing, holds no thread, and is closed when the headers' deadline (the read timeout) passes."""
        held = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        self._gathering[conn] = [time.monotonic() + self._read_timeout, bytearray(held)]
        try:
            if conn.sock.gettimeout() != 0.0:  # a keep-alive connection is non-blocking already
                conn.sock.setblocking(False)
        except OSError:
            self._drop_gathering(conn, registered=False)
            return
        # A keep-alive connection's next request is usually there already: no poller round trip for it.
        if self._gathered(conn, registered=False):
            return
        try:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._gather_readable, conn))
        except (OSError, ValueError, KeyError):
            self._drop_gathering(conn, registered=False)

    def _gather_readable(self, conn: Any, _client: Any) -> None:
        if conn in self._gathering:
            self._gathered(conn, registered=True)

    def _gathered(self, conn: Any, registered: bool) -> bool:
        """Read what has arrived; True once the connection is dealt with (handed to a thread, or closed)."""
        try:
            data = conn.sock.recv(GATHER_READ_BYTES)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:  # the client went away before its headers were complete
            self._drop_gathering(conn, registered)
            return True
        gathered = self._gathering[conn][1]
        gathered += data
        if HEADER_END not in gathered and len(gathered) < MAX_GATHERED_BYTES:
            return False
        del self._gathering[conn]
        if registered:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self.poller.unregister(conn.sock)
        if conn.parser is None:
            conn.init()  # creates the HTTP/1 parser (plain HTTP: no handshake, nothing read)
        conn.parser.unreader.unread(bytes(gathered))
        conn.data_ready = True
        self._submit(conn)
        return True

    def _drop_gathering(self, conn: Any, registered: bool = True) -> None:
        self._gathering.pop(conn, None)
        if registered:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    # -- closing after an answer that came before the body ---------------------------------------------

    def _linger(self, conn: Any) -> None:
        """On the main loop: close a connection whose request body was not read, without a thread. gthread
        would drain the body on a pool thread (up to 5 s) and linger on the main loop (up to 2 s, blocking
        it); a sender dribbling bytes could hold either. Here the answer is followed by a FIN at once, and
        what the peer still sends is discarded, non-blocking, until it closes, LINGER_MAX_BYTES arrived or
        LINGER_SECONDS passed (closing with unread bytes would reset the connection and could destroy the
        answer before the sender read it: RFC 9112, section 9.6)."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._discard_unread, conn))
        except (OSError, ValueError, KeyError):
            self.nr_conns -= 1
            conn.close()
            return
        self._lingering[conn] = [time.monotonic() + LINGER_SECONDS, 0.0]

    def _discard_unread(self, conn: Any, _client: Any) -> None:
        state = self._lingering.get(conn)
        if state is None:
            return
        try:
            data = conn.sock.recv(LINGER_READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        state[1] += len(data)
        if not data or state[1] >= LINGER_MAX_BYTES:
            self._end_linger(conn)

    def _end_linger(self, conn: Any) -> None:
        self._lingering.pop(conn, None)
        with contextlib.suppress(OSError, ValueError, KeyError):  # already unregistered
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    def murder_keepalived(self, force: bool = False) -> None:
        """gthread's, plus the end of lingering closes whose time is up (the main loop calls it every turn)."""
        super().murder_keepalived(force)
        if self._gathering:
            now = time.monotonic()
            for conn in [conn for conn, (deadline, _) in self._gathering.items() if force or deadline <= now]:
                self._drop_gathering(conn)  # its headers did not arrive in time: closed, no thread spent
        if self._lingering:
            now = time.monotonic()
            for conn in [conn for conn, (deadline, _) in self._lingering.items() if force or deadline <= now]:
                self._end_linger(conn)

    def answer_parked(self, req: Any, conn: Any, response: Response) -> None:
        """Turn a parked request's answer into bytes (any thread: the one that gave the verdict) and queue
        it for the main loop, which sends it and takes the connection back. The verdict-giving thread
        makes no system call per answer: each would release the GIL, and a flusher answering a batch
        of 100 hits would then wait to get it back 100 times before its next BigQuery call."""
        try:
            buffer = _Buffer()
            resp = wsgi.Response(req, buffer, self.cfg)
            # The same reasons to close as gthread's handle_request, judged now.
            if not self.alive or not self.cfg.keepalive or len(self.keepalived_conns) >= self.max_keepalived:
                resp.force_close()
            resp.start_response(response.status, response.headers.to_wsgi_list())
            resp.write(response.get_data())
            resp.close()
            answer = (conn, b"".join(buffer.pieces), not resp.should_close())
        except Exception:
            log.exception("parked answer failed")
            answer = (conn, b"", False)
        with self._answered_lock:
            if not self._loop_done:
                self._answered.append(answer)
                if not self._answered_scheduled:
                    self._answered_scheduled = True
                    # Under the lock: the main loop's queue is not closed meanwhile (_close_method_queue).
                    self.method_queue.defer(self._send_answered)
                return
        self._send_and_close(*answer)  # stopping: the main loop has ended, so this thread sends it

    def _close_method_queue(self) -> None:
        """Replaces method_queue.close: once the main loop's queue is closed, answers go out directly."""
        with self._answered_lock:
            self._loop_done = True
            self._close_queue()

    def run(self) -> None:
        super().run()
        # The main loop has ended (stopping; gunicorn closes the sink next, in worker_exit, and the rows
        # still queued get their verdicts then). Answers it had not sent yet are sent here.
        with self._answered_lock:
            answered, self._answered = self._answered, []
        for answer in answered:
            self._send_and_close(*answer)

    def _send_and_close(self, conn: Any, data: bytes, keepalive: bool) -> None:
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(self._read_timeout)
            conn.sock.sendall(data)
        except OSError as error:
            log.debug("parked answer not sent", extra={"error": type(error).__name__})
        conn.close()

    def _send_answered(self) -> None:
        """On the main loop's thread: send the answers queued since the last call, each with one
        non-blocking send (a small answer fits the socket's buffer; the rest, if any, goes from a pool
        thread), and hand each connection back as gthread does after a request (keep-alive or close)."""
        with self._answered_lock:
            answered, self._answered = self._answered, []
            self._answered_scheduled = False
        for conn, data, keepalive in answered:
            if data:
                try:
                    sent = conn.sock.send(data, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                except OSError as error:  # the client went away meanwhile: nothing to answer
                    log.debug("parked answer not sent", extra={"error": type(error).__name__})
                    sent, keepalive = len(data), False
                if sent < len(data):
                    self._send_rest_later(conn, data[sent:], keepalive)
                    continue
            self._finish(conn, keepalive)

    def _send_rest_later(self, conn: Any, rest: bytes, keepalive: bool) -> None:
        def send_rest() -> None:
            still_keepalive = keepalive
            try:
                conn.sock.sendall(rest)  # blocking, within the socket's timeout
            except OSError:
                still_keepalive = False
            self.method_queue.defer(self._finish, conn, still_keepalive)

        self.run_blocking(send_rest)

    def _finish(self, conn: Any, keepalive: bool) -> None:  # on the main loop's thread
        done: futures.Future[bool] = futures.Future()
        done.set_result(keepalive)
        self.finish_request(conn, done)

    def run_blocking(self, job: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                job()
            except Exception:
                log.exception("background job failed")

        try:
            self.tpool.submit(guarded)
        except RuntimeError:  # the pool is shut down (the worker is stopping): a thread of its own
            threading.Thread(target=guarded, name="hookstream-answer").start()
