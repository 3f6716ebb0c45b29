"""The webhook endpoint: one Flask app serves one stream (gunicorn runs `service.runtime.app:create_app()`).

A request becomes a row only through its intake (service/runtime/intake.py); the row goes to the sink
(service/runtime/delivery.py), and the outcome is answered by one responder (service/runtime/outcome.py): 2xx
only once the sink says the row is kept, in the table or in the spool.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Request, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from service.model.endpoint import HOOKS_PATH
from service.runtime.auth import make_verifier
from service.runtime.delivery import Delivery, default_sink
from service.runtime.intake import HIT_METHODS, Intake, method_not_allowed, unread_body_closes
from service.runtime.logs import configure_logging
from service.runtime.metrics import StreamMetrics
from service.runtime.outcome import HitOutcome, Responder
from service.runtime.refusals import error_response
from service.runtime.settings import ServiceSettings, SettingsError, process_settings
from service.runtime.sink import Sink
from service.runtime.verification import AuthSetupError

log = logging.getLogger("hookstream.hits")

NOT_FOUND = ("no endpoint at this path; send hits to the endpoint URL from the deploy output (.../hooks)")
INTERNAL_ERROR = "the hit was not stored because of an internal error; retry later"


class EndpointFlask(Flask):
    """Flask with the stream's sink (closed by gunicorn's worker_exit), minus the one log line that would
    print the request path (and so a token in the URL)."""

    sink: Sink

    def close_sink(self) -> None:
        self.sink.close()

    def log_exception(self, exc_info: Any) -> None:
        # Flask's default logs "Exception on /hooks/<token> [POST]" with the traceback's messages. Keep
        # what a developer needs to find the bug (class and line), not what the request carried.
        error_class, _, trace = exc_info
        where = None
        while trace is not None:
            where, trace = f"{trace.tb_frame.f_code.co_filename}:{trace.tb_lineno}", trace.tb_next
        log.error("unhandled error", extra={"error": getattr(error_class, "__name__", "unknown"), "where": where})


def create_app(settings: ServiceSettings | None = None, sink: Sink | None = None,
               clock_ms: Any = None) -> EndpointFlask:
    """Build the app for one stream. With no arguments: settings from the environment, BigQuery sink."""
    if settings is None:
        configure_logging()
        settings = process_settings()
    spec = settings.spec
    try:
        verifier = make_verifier(spec.auth, settings.secrets)
    except AuthSetupError as error:
        raise SettingsError(f"hookstream service for stream {spec.stream!r}: {error}") from None
    if spec.auth.mode == "none":
        log.warning("auth mode 'none': anyone who knows this URL can write rows", extra={"stream": spec.stream})
    app = EndpointFlask(__name__)
    app.sink = sink if sink is not None else default_sink(settings)
    metrics = StreamMetrics(spec.stream, app.sink.counters)
    if settings.metrics_endpoint:  # locally, in tests and the benchmark only
        metrics.serve(app)
    responder = Responder(spec.stream, spec.auth, metrics)
    intake = Intake(spec, verifier, clock_ms or (lambda: time.time_ns() // 1_000_000))
    delivery = Delivery(app.sink, responder)
    _route_hits(app, spec.stream, intake, delivery, responder)
    _route_errors(app, responder, spec.stream)
    return app


def _route_hits(app: Flask, stream: str, intake: Intake, delivery: Delivery, responder: Responder) -> None:
    # No automatic OPTIONS answer: a CRM does not send CORS preflights, and an unexpected 200 without
    # a hit_id would read as "stored".
    @app.route(HOOKS_PATH, methods=HIT_METHODS, provide_automatic_options=False)
    @app.route(f"{HOOKS_PATH}/", methods=HIT_METHODS, provide_automatic_options=False)
    @app.route(f"{HOOKS_PATH}/<path_token>", methods=HIT_METHODS, provide_automatic_options=False)
    # A token URL pasted with a trailing slash works too (Werkzeug would answer 308, which CRMs don't follow).
    @app.route(f"{HOOKS_PATH}/<path_token>/", methods=HIT_METHODS, provide_automatic_options=False,
               strict_slashes=False)
    def receive_hit(path_token: str | None = None) -> Response:
        started = time.perf_counter()
        # The request object itself, once: every access through Flask's `request` proxy is a lookup.
        req: Request = request._get_current_object()  # type: ignore[attr-defined]
        taken = intake.take(req, path_token, started)
        if isinstance(taken, HitOutcome):
            return responder.respond(taken)
        return delivery.deliver(taken)

    @app.get("/health", provide_automatic_options=False)
    def health() -> Response:
        # Liveness only: it must stay green while BigQuery is down, or Cloud Run would restart
        # instances that are answering 503 correctly.
        return jsonify(status="ok", stream=stream)


def _on_hit_path() -> bool:
    path = request.path
    return path == HOOKS_PATH or path.startswith(f"{HOOKS_PATH}/")


def _route_errors(app: EndpointFlask, responder: Responder, stream: str) -> None:
    def answer(outcome: HitOutcome) -> Response:
        # Requests to the hit path are hits (answered, logged and counted as such); any other path is not.
        if _on_hit_path():
            return responder.respond(outcome)
        return error_response(outcome.status, outcome.code or "error", outcome.message or "", outcome.headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        started = time.perf_counter()
        status = error.code or 500
        if status == 405:
            return answer(method_not_allowed(started, request.environ))
        # A 404 does not echo the path: it may hold a mistyped secret.
        code, message = ("not_found", NOT_FOUND) if status == 404 else ("http_error", error.description or error.name)
        return answer(HitOutcome.refusal("rejected", status, code, message, started,
                                         headers=unread_body_closes(request.environ)))

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        # Nothing was stored (a 2xx is only sent after the sink kept the row); say so plainly.
        app.log_exception((type(error), error, error.__traceback__))
        return answer(HitOutcome("not_stored", 500, time.perf_counter(), code="internal_error",
                                 message=INTERNAL_ERROR, headers={"Retry-After": "5"}, detail="internal error"))
