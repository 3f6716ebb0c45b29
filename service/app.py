"""The webhook endpoint: one Flask app serves one stream (gunicorn runs `service.app:create_app()`).

A request becomes a row only through `receive_hit`: read the raw body within the stream's limit,
refuse what cannot be stored, write, and answer 2xx only once the sink says the row is stored.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from service.auth import AuthFailed, AuthSetupError, RequestView, make_verifier
from service.batching import BatchingSink
from service.logs import configure_logging, trace_from_header
from service.metrics import install_metrics
from service.rows import build_row
from service.settings import ServiceSettings, SettingsError, load_settings
from service.sink import BigQueryRowWriter, Sink, WriteFailed

log = logging.getLogger("hookstream.hits")

HIT_METHODS = ("GET", "POST", "PUT")


class Rejected(Exception):
    """A request that will not become a row; the message tells the CRM admin what to change."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _default_sink(settings: ServiceSettings) -> Sink:
    from service.bigquery_client import make_client

    client = make_client(settings.project, settings.bigquery_emulator_host)
    writer = BigQueryRowWriter(client, settings.table_id, settings.write_deadline_seconds)
    # Group commit: concurrent hits of this process share one insertAll (service/batching.py).
    return BatchingSink(writer, settings.write_deadline_seconds, stream=settings.stream.name)


def create_app(settings: ServiceSettings | None = None, sink: Sink | None = None,
               clock_ms: Any = None) -> Flask:
    """Build the app for one stream. With no arguments: settings from the environment, BigQuery sink."""
    if settings is None:
        configure_logging()
        settings = load_settings()
    stream = settings.stream
    try:
        verifier = make_verifier(stream.auth, settings.secrets)
    except AuthSetupError as error:
        raise SettingsError(f"hookstream service for stream {stream.name!r}: {error}") from None
    hit_sink = sink if sink is not None else _default_sink(settings)
    now_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
    zone = settings.zone
    if stream.auth.mode == "none":
        log.warning("auth mode 'none': anyone who knows this URL can write rows", extra={"stream": stream.name})

    app = Flask(__name__)
    # Werkzeug refuses a larger Content-Length before reading the body; chunked bodies are measured in
    # read_raw_payload, because Werkzeug would only truncate those.
    app.config["MAX_CONTENT_LENGTH"] = stream.max_body_bytes
    app.extensions["hookstream.sink"] = hit_sink
    # Counts every hit; serves GET /metrics only where asked to (locally, in tests and the benchmark).
    install_metrics(app, stream.name, hit_sink, serve_endpoint=settings.metrics_endpoint)

    def read_raw_payload() -> bytes:
        if request.method == "GET":
            return request.query_string
        too_large = Rejected(413, "body_too_large",
                             f"body is larger than this stream's limit of {stream.max_body_bytes} bytes")
        if request.content_length is None and "wsgi.input_terminated" in request.environ:
            # A chunked body: Werkzeug would cut it at the limit without a word, and we would store a
            # truncated payload. Read one byte past the limit ourselves to tell "fits" from "too large".
            body: bytes = request.environ["wsgi.input"].read(stream.max_body_bytes + 1)
            if len(body) > stream.max_body_bytes:
                raise too_large
            return body
        try:
            return request.get_data(cache=False)
        except RequestEntityTooLarge:
            raise too_large from None

    def decode_payload(raw: bytes) -> str:
        if not raw and request.method == "GET":
            raise Rejected(400, "empty_query", "GET needs a query string with the data, e.g. ?orderId=N1&status=paid")
        if not raw:
            raise Rejected(400, "empty_body", f"{request.method} needs a body with the data")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise Rejected(400, "invalid_utf8",
                           f"body is not UTF-8 text (invalid byte at offset {error.start}); "
                           "send text (form, JSON, XML) encoded as UTF-8") from None

    # No automatic OPTIONS answer: a CRM does not send CORS preflights, and an unexpected 200 without
    # a hit_id would read as "stored".
    @app.route("/hooks", methods=HIT_METHODS, provide_automatic_options=False)
    @app.route("/hooks/", methods=HIT_METHODS, provide_automatic_options=False)
    @app.route("/hooks/<path_token>", methods=HIT_METHODS, provide_automatic_options=False)
    def receive_hit(path_token: str | None = None) -> Response:
        received_at_ms = now_ms()
        started = time.perf_counter()
        trace = trace_from_header(request.headers.get("X-Cloud-Trace-Context"), settings.project)
        if request.method not in HIT_METHODS:  # Flask adds HEAD to GET routes; a HEAD must not write.
            return error_response(405, "method_not_allowed", "use POST, PUT or GET",
                                  {"Allow": ", ".join(HIT_METHODS)})
        if path_token is not None and stream.auth.mode != "token":
            return error_response(404, "not_found", "this stream takes hits at /hooks (its secret is not in the URL)")
        try:
            raw = read_raw_payload()
            # The check runs on the raw bytes, before the body is decoded, parsed or written.
            sender = verifier.verify(RequestView(raw, request.headers, path_token, received_at_ms / 1000))
            payload = decode_payload(raw)
        except AuthFailed as failed:
            log.warning("hit refused", extra={"stream": stream.name, "reason": failed.code, "status": 401,
                                              "trace": trace})
            return error_response(401, failed.code, failed.message)
        except Rejected as rejected:
            log.warning("hit rejected", extra={"stream": stream.name, "reason": rejected.code,
                                               "status": rejected.status, "trace": trace})
            return error_response(rejected.status, rejected.code, rejected.message)
        row = build_row(payload, received_at_ms, zone, delivery_id=sender.delivery_id)
        try:
            hit_sink.write(row)
        except WriteFailed as failed:
            log.error("hit not stored", extra={"stream": stream.name, "hit_id": row["hit_id"],
                                               "reason": failed.detail, "trace": trace})
            return error_response(503, "not_stored", f"the hit was not stored: {failed.detail}",
                                  {"Retry-After": str(failed.retry_after_seconds)})
        log.info("hit stored", extra={
            "stream": stream.name, "hit_id": row["hit_id"], "bytes": len(payload),
            "latency_ms": round((time.perf_counter() - started) * 1000, 2), "trace": trace,
        })
        return jsonify(status="stored", hit_id=row["hit_id"], stream=stream.name)

    @app.get("/health", provide_automatic_options=False)
    def health() -> Response:
        # Liveness only: it must stay green while BigQuery is down, or Cloud Run would restart
        # instances that are answering 503 correctly.
        return jsonify(status="ok", stream=stream.name)

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
        if status == 413:
            return error_response(413, "body_too_large",
                                  f"body is larger than this stream's limit of {stream.max_body_bytes} bytes")
        return error_response(status, "http_error", error.description or error.name)

    return app
