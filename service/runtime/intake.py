"""From a request to a row, or to the outcome that says why not: the steps every hit takes before the sink.

Check the sender (before the body is read where the check allows it), read the raw body within the stream's
limits, answer a handshake, decode, redact, build the row. Every refusal is an outcome with a status and a
message a CRM admin can act on; nothing here writes anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Request

from service.model.auth_settings import takes_path_token
from service.model.schema import HitRow
from service.model.service_env import ServiceSpec
from service.runtime.logs import trace_from_header
from service.runtime.outcome import HitOutcome
from service.runtime.refusals import Rejected
from service.runtime.request_body import decode_utf8, read_body
from service.runtime.request_headers import HeaderKeeper
from service.runtime.rows import build_row
from service.runtime.senders.answers import handshake_answer
from service.runtime.sink import Verdict
from service.runtime.verification import AuthFailed, RequestView, Verifier

log = logging.getLogger("hookstream.hits")

HIT_METHODS = ("GET", "POST", "PUT")
REDACTED = "[redacted]"


CLOSE = {"Connection": "close"}


def sends_a_body(environ: Mapping[str, Any]) -> bool:
    """Whether the request announces a body (a length above 0, or chunked)."""
    return environ.get("CONTENT_LENGTH", "") not in ("", "0") or "HTTP_TRANSFER_ENCODING" in environ


def unread_body_closes(environ: Mapping[str, Any]) -> dict[str, str]:
    """The headers of an answer given before the request's body was read: the connection closes rather than
    spend a thread draining a body nobody will use (service/runtime/gunicorn_worker.py honours it)."""
    return dict(CLOSE) if sends_a_body(environ) else {}


def method_not_allowed(started: float, environ: Mapping[str, Any], trace: str | None = None) -> HitOutcome:
    return HitOutcome.refusal("rejected", 405, "method_not_allowed", "use POST, PUT or GET", started, trace,
                              {"Allow": ", ".join(HIT_METHODS), **unread_body_closes(environ)})


@dataclass(frozen=True)
class AcceptedHit:
    """A request that became a row; its outcome waits for the sink's verdict."""

    row: HitRow
    started: float
    trace: str | None

    def outcome(self, verdict: Verdict) -> HitOutcome:
        return HitOutcome.of_verdict(verdict, self.row["hit_id"], len(self.row["payload"]), self.started, self.trace)


class Intake:
    def __init__(self, spec: ServiceSpec, verifier: Verifier, now_ms: Callable[[], int]) -> None:
        self._spec = spec
        self._verifier = verifier
        self._now_ms = now_ms
        self._path_token_allowed = takes_path_token(spec.auth)
        self._headers = HeaderKeeper(spec.auth, spec.keep_headers)

    def take(self, req: Request, path_token: str | None, started: float) -> AcceptedHit | HitOutcome:
        received_at_ms = self._now_ms()
        trace = trace_from_header(req.environ.get("HTTP_X_CLOUD_TRACE_CONTEXT"), self._spec.project)
        environ = req.environ
        if req.method not in HIT_METHODS:  # Flask adds HEAD to GET routes; a HEAD must not write.
            return method_not_allowed(started, environ, trace)
        if path_token is not None and not self._path_token_allowed:
            return HitOutcome.refusal("rejected", 404, "not_found",
                                      "this stream takes hits at /hooks (its secret is not in the URL)", started, trace,
                                      unread_body_closes(environ))
        verifier = self._verifier
        body_read = False
        try:
            if not verifier.reads_body:
                # A token is checked before the body is read: a stranger's request costs no body read.
                sender = verifier.verify(self._view(req, b"", path_token, received_at_ms))
            raw = self._raw_payload(req)
            body_read = True
            if verifier.reads_body:
                # A signature is checked on the raw bytes, before the body is decoded, parsed or written.
                sender = verifier.verify(self._view(req, raw, path_token, received_at_ms))
            handshake = handshake_answer(self._spec.auth, req.headers, raw)
            if handshake is not None:  # only after the stream's own check passed; answered, never stored
                return HitOutcome.of_handshake(handshake, started, trace)
            payload = self._decode(req, raw)
            for secret_text in sender.redact:
                payload = payload.replace(secret_text, REDACTED)
            del raw  # only the decoded payload stays in memory while the row is written
        except AuthFailed as failed:
            # Refused before its body was read (a token check), the connection closes undrained.
            closing = {} if body_read else unread_body_closes(environ)
            return HitOutcome.refusal("refused", 401, failed.code, failed.message, started, trace, closing)
        except Rejected as rejected:
            # After a framing error, a stalled body or a body too large to read, where the next request
            # would start is unknown (or costs a drain to find).
            closing = CLOSE if rejected.status in (400, 408, 413) and not body_read else {}
            return HitOutcome.refusal("rejected", rejected.status, rejected.code, rejected.message, started, trace,
                                      dict(closing))
        row = build_row(payload, received_at_ms, self._spec.zone, delivery_id=sender.delivery_id,
                        headers=self._headers.headers_json(environ, req.method))
        return AcceptedHit(row, started, trace)

    def _view(self, req: Request, raw: bytes, path_token: str | None, received_at_ms: int) -> RequestView:
        if not self._verifier.reads_target:  # most checks read headers and body only: spare parsing the URL
            return RequestView(raw, req.headers, path_token, received_at_ms / 1000, method=req.method)
        environ = req.environ
        # The request target exactly as sent (gunicorn: RAW_URI), for checks that sign the URL (HubSpot).
        target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or req.full_path.rstrip("?")
        return RequestView(raw, req.headers, path_token, received_at_ms / 1000, method=req.method,
                           uri=target, host=req.host, query=req.args)

    def _raw_payload(self, req: Request) -> bytes:
        if req.method == "GET":
            return req.query_string
        return read_body(req.environ, self._spec.max_body_bytes, self._spec.read_timeout_seconds)

    @staticmethod
    def _decode(req: Request, raw: bytes) -> str:
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
