"""The webhook endpoint: one Flask app serves one stream (gunicorn runs `service.runtime.app:create_app()`).

A request becomes a row only through `receive_hit`: read the raw body within the stream's limit,
refuse what cannot be stored, write, and answer 2xx only once the sink says the row is stored.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Request, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from service.model.auth_settings import takes_path_token
from service.model.endpoint import HOOKS_PATH
from service.runtime.auth import make_verifier
from service.runtime.batching import BatchingSink
from service.runtime.logs import configure_logging, log_fields, trace_from_header
from service.runtime.metrics import HANDSHAKE_KEY, install_metrics
from service.runtime.parking import parking_of
from service.runtime.refusals import Rejected, error_response, json_response
from service.runtime.request_body import decode_utf8, read_body
from service.runtime.rows import build_row
from service.runtime.senders.answers import answer_response, handshake_answer, stored_answer
from service.runtime.settings import ServiceSettings, SettingsError, process_settings
from service.runtime.sink import BigQueryRowWriter, Sink, SubmittingSink, Verdict, WarehouseHealth, WriteFailed
from service.runtime.spool import GcsSpool, SpoolLocation
from service.runtime.spooling_sink import SpoolingSink
from service.runtime.verification import AuthFailed, AuthSetupError, RequestView

log = logging.getLogger("hookstream.hits")

HIT_METHODS = ("GET", "POST", "PUT")
REDACTED = "[redacted]"


class EndpointFlask(Flask):
    """Flask, minus the one log line that would print the request path (and so a token in the URL)."""

    def log_exception(self, exc_info: Any) -> None:
        # Flask's default logs "Exception on /hooks/<token> [POST]" with the traceback's messages. Keep
        # what a developer needs to find the bug (class and line), not what the request carried.
        error_class, _, trace = exc_info
        where = None
        while trace is not None:
            where, trace = f"{trace.tb_frame.f_code.co_filename}:{trace.tb_lineno}", trace.tb_next
        log.error("unhandled error", extra={"error": getattr(error_class, "__name__", "unknown"), "where": where})


def _default_sink(settings: ServiceSettings) -> Sink:
    from service.runtime.bigquery_client import make_client

    spec = settings.spec
    client = make_client(spec.project, settings.bigquery_emulator_host)
    health = WarehouseHealth()  # what the writer's attempts see, for the spooling sink
    writer = BigQueryRowWriter(client, spec.table_path, spec.write_deadline_seconds, health=health)
    # Group commit: concurrent hits of this process share one insertAll (service/runtime/batching.py).
    batching = BatchingSink(writer, spec.write_deadline_seconds, stream=spec.stream)
    if settings.spool_url is None:
        return batching
    # What BigQuery cannot take goes to the stream's spool before the answer (service/runtime/spool.py).
    spool = GcsSpool(SpoolLocation.parse(settings.spool_url), spec.project)
    return SpoolingSink(batching, spool, spec.stream, health=health)


def create_app(settings: ServiceSettings | None = None, sink: Sink | None = None,
               clock_ms: Any = None) -> Flask:
    """Build the app for one stream. With no arguments: settings from the environment, BigQuery sink."""
    if settings is None:
        configure_logging()
        settings = process_settings()
    spec = settings.spec
    try:
        verifier = make_verifier(spec.auth, settings.secrets)
    except AuthSetupError as error:
        raise SettingsError(f"hookstream service for stream {spec.stream!r}: {error}") from None
    hit_sink = sink if sink is not None else _default_sink(settings)
    now_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
    zone = spec.zone
    if spec.auth.mode == "none":
        log.warning("auth mode 'none': anyone who knows this URL can write rows", extra={"stream": spec.stream})

    app = EndpointFlask(__name__)
    app.extensions["hookstream.sink"] = hit_sink
    # Counts every hit; serves GET /metrics only where asked to (locally, in tests and the benchmark).
    count_hit = install_metrics(app, spec.stream, hit_sink, serve_endpoint=settings.metrics_endpoint)
    # Sinks that can take a row without holding this thread until its verdict (service/runtime/parking.py).
    submit = hit_sink.submit if isinstance(hit_sink, SubmittingSink) else None

    acknowledgement = stored_answer(spec.auth)
    path_token_allowed = takes_path_token(spec.auth)

    reads_target = verifier.reads_target

    def request_view(req: Request, raw: bytes, path_token: str | None, received_at_ms: int) -> RequestView:
        if not reads_target:  # most checks read headers and body only: spare parsing the host and query
            return RequestView(raw, req.headers, path_token, received_at_ms / 1000, method=req.method)
        environ = req.environ
        # The request target exactly as sent (gunicorn: RAW_URI), for checks that sign the URL (HubSpot).
        target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or req.full_path.rstrip("?")
        return RequestView(raw, req.headers, path_token, received_at_ms / 1000, method=req.method,
                           uri=target, host=req.host, query=req.args)

    def read_raw_payload(req: Request) -> bytes:
        if req.method == "GET":
            return req.query_string
        return read_body(req.environ, spec.max_body_bytes, spec.read_timeout_seconds)

    def decode_payload(req: Request, raw: bytes) -> str:
        if not raw and req.method == "GET":
            raise Rejected(400, "empty_query", "GET needs a query string with the data, e.g. ?orderId=N1&status=paid")
        if not raw:
            raise Rejected(400, "empty_body", f"{req.method} needs a body with the data")
        try:
            return decode_utf8(raw)
        except UnicodeDecodeError as error:
            raise Rejected(400, "invalid_utf8",
                           f"body is not UTF-8 text (invalid byte at offset {error.start}); "
                           "send text (form, JSON, XML) encoded as UTF-8") from None

    # No automatic OPTIONS answer: a CRM does not send CORS preflights, and an unexpected 200 without
    # a hit_id would read as "stored".
    @app.route(HOOKS_PATH, methods=HIT_METHODS, provide_automatic_options=False)
    @app.route(f"{HOOKS_PATH}/", methods=HIT_METHODS, provide_automatic_options=False)
    @app.route(f"{HOOKS_PATH}/<path_token>", methods=HIT_METHODS, provide_automatic_options=False)
    # A token URL pasted with a trailing slash works too (Werkzeug would answer 308, which CRMs don't follow).
    @app.route(f"{HOOKS_PATH}/<path_token>/", methods=HIT_METHODS, provide_automatic_options=False,
               strict_slashes=False)
    def receive_hit(path_token: str | None = None) -> Response:
        received_at_ms = now_ms()
        started = time.perf_counter()
        # The request object itself, once: every access through Flask's `request` proxy is a lookup.
        req: Request = request._get_current_object()  # type: ignore[attr-defined]
        trace = trace_from_header(req.environ.get("HTTP_X_CLOUD_TRACE_CONTEXT"), spec.project)
        if req.method not in HIT_METHODS:  # Flask adds HEAD to GET routes; a HEAD must not write.
            return error_response(405, "method_not_allowed", "use POST, PUT or GET",
                                  {"Allow": ", ".join(HIT_METHODS)})
        if path_token is not None and not path_token_allowed:
            return error_response(404, "not_found", "this stream takes hits at /hooks (its secret is not in the URL)")
        try:
            if not verifier.reads_body:
                # A token is checked before the body is read: a stranger's request costs no body read.
                sender = verifier.verify(request_view(req, b"", path_token, received_at_ms))
            raw = read_raw_payload(req)
            if verifier.reads_body:
                # A signature is checked on the raw bytes, before the body is decoded, parsed or written.
                sender = verifier.verify(request_view(req, raw, path_token, received_at_ms))
            handshake = handshake_answer(spec.auth, req.headers, raw)
            if handshake is not None:
                # Only after the stream's own check passed; a handshake is answered, never stored.
                log.info("handshake answered", extra={"stream": spec.stream, "trace": trace})
                req.environ[HANDSHAKE_KEY] = True
                return answer_response(handshake)
            payload = decode_payload(req, raw)
            for secret_text in sender.redact:
                payload = payload.replace(secret_text, REDACTED)
            del raw  # only the decoded payload stays in memory while the row is written
        except AuthFailed as failed:
            log.warning("hit refused", extra={"stream": spec.stream, "reason": failed.code, "status": 401,
                                              "trace": trace})
            return error_response(401, failed.code, failed.message)
        except Rejected as rejected:
            log.warning("hit rejected", extra={"stream": spec.stream, "reason": rejected.code,
                                               "status": rejected.status, "trace": trace})
            # After a framing error or a stalled body, where the next request would start is unknown.
            closing = {"Connection": "close"} if rejected.status in (400, 408) else None
            return error_response(rejected.status, rejected.code, rejected.message, closing)
        row = build_row(payload, received_at_ms, zone, delivery_id=sender.delivery_id)

        def answer(verdict: Verdict) -> Response:
            """The answer to the sender once the sink gave the row's verdict."""
            if isinstance(verdict, WriteFailed):
                log.error("hit not stored", extra={"stream": spec.stream, "hit_id": row["hit_id"],
                                                   "reason": verdict.detail, "trace": trace})
                return error_response(503, "not_stored", f"the hit was not stored: {verdict.detail}",
                                      {"Retry-After": str(verdict.retry_after_seconds)})
            # One line per hit (log-based metrics count and time them, infra/log_metrics.py), on the cheap path.
            log_fields(log, logging.INFO, f"hit {verdict}", {
                "stream": spec.stream, "hit_id": row["hit_id"], "bytes": len(payload),
                "latency_ms": round((time.perf_counter() - started) * 1000, 2), "trace": trace,
            })
            if acknowledgement is not None:  # the sender's own answer (Salesforce's Ack), only once it is stored
                return answer_response(acknowledgement)
            # "spooled": not in the table yet, but durably in the spool; replay writes it (same hit_id).
            return json_response(200, {"hit_id": row["hit_id"], "status": verdict, "stream": spec.stream})

        parking = parking_of(req.environ)
        if submit is not None and parking is not None:
            # Answered when the verdict comes, by the thread that gives it; this thread serves the next request.
            environ = req.environ
            answer_later = parking.park()

            def answer_parked(verdict: Verdict) -> None:
                response = answer(verdict)
                count_hit(environ, response)
                answer_later(response)

            try:
                if submit(row, answer_parked, parking.run_blocking):
                    return Response(status=202)  # to Flask only: the server sends the real answer later
            except WriteFailed as failed:  # refused before it was queued (too large, shutting down)
                parking.cancel()
                return answer(failed)
            parking.cancel()  # this sink wants the blocking path for this row (the spool is answering first)
        try:
            return answer(hit_sink.write(row))
        except WriteFailed as failed:
            return answer(failed)

    @app.get("/health", provide_automatic_options=False)
    def health() -> Response:
        # Liveness only: it must stay green while BigQuery is down, or Cloud Run would restart
        # instances that are answering 503 correctly.
        return jsonify(status="ok", stream=spec.stream)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 404:
            # The path is not echoed: it may hold a mistyped secret.
            return error_response(404, "not_found", "no endpoint at this path; send hits to the endpoint URL "
                                  "from the deploy output (.../hooks)")
        if status == 405:
            return error_response(405, "method_not_allowed", "use POST, PUT or GET",
                                  {"Allow": ", ".join(HIT_METHODS)})
        return error_response(status, "http_error", error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        # Nothing was stored (a 2xx is only sent after the sink stored the row); say so plainly.
        app.log_exception((type(error), error, error.__traceback__))
        return error_response(500, "internal_error", "the hit was not stored because of an internal error; "
                              "retry later", {"Retry-After": "5"})

    return app
