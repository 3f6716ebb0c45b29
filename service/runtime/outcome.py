"""What became of one request to the hit path, and the one place that answers it.

Intake (service/runtime/intake.py) ends every request in a `HitOutcome`: refused, rejected, a handshake, or a
row whose verdict the sink gave (stored, spooled, not stored). `Responder.respond` turns it into the
sender's answer, its one log line (log-based metrics count these lines: infra/log_metrics.py) and its count
in the metrics, on whichever thread has the outcome: the request's own, or the one that gave a parked
request's verdict. Nothing downstream parses an answer back to learn what happened.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Literal

from flask import Response

from service.model.auth_settings import Auth
from service.runtime.logs import log_fields
from service.runtime.metrics import StreamMetrics
from service.runtime.refusals import error_response, json_response
from service.runtime.senders.answers import Answer, answer_response, stored_answer
from service.runtime.sink import Verdict, WriteFailed

log = logging.getLogger("hookstream.hits")

# refused: the sender's credentials failed (401); rejected: the request cannot be a row (4xx);
# handshake: answered, never a row; stored / spooled: kept (2xx); not_stored: nothing holds it (503).
OutcomeKind = Literal["refused", "rejected", "handshake", "stored", "spooled", "not_stored"]


@dataclass
class HitOutcome:
    kind: OutcomeKind
    status: int  # the HTTP status the sender gets
    started: float  # time.perf_counter() when the request reached the view
    trace: str | None = None
    hit_id: str | None = None
    code: str | None = None  # the error code of a 4xx / 5xx answer
    message: str | None = None  # what the CRM admin reads about it
    headers: dict[str, str] = field(default_factory=dict)
    payload_bytes: int = 0
    handshake: Answer | None = None
    detail: str | None = None  # why a row was not stored, for the log (safe: no payload, no secret)

    @property
    def latency_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    @classmethod
    def refusal(cls, kind: Literal["refused", "rejected"], status: int, code: str, message: str, started: float,
                trace: str | None = None, headers: dict[str, str] | None = None) -> HitOutcome:
        return cls(kind, status, started, trace, code=code, message=message, headers=headers or {})

    @classmethod
    def of_handshake(cls, answer: Answer, started: float, trace: str | None) -> HitOutcome:
        return cls("handshake", answer.status, started, trace, handshake=answer)

    @classmethod
    def of_verdict(cls, verdict: Verdict, hit_id: str, payload_bytes: int, started: float,
                   trace: str | None) -> HitOutcome:
        if not isinstance(verdict, WriteFailed):
            return cls(verdict, 200, started, trace, hit_id=hit_id, payload_bytes=payload_bytes)
        if verdict.row_at_fault:
            # Sending it again cannot help: a 4xx stops the sender's retries, and the reason says why.
            return cls("rejected", 422, started, trace, hit_id=hit_id, code="row_rejected", detail=verdict.detail,
                       message=f"BigQuery refused the row and it was not stored: {verdict.detail}; sending it "
                               "again will not help (the stream's owner can see why in the service's log)")
        return cls("not_stored", 503, started, trace, hit_id=hit_id, code="not_stored",
                   message=f"the hit was not stored: {verdict.detail}",
                   headers={"Retry-After": str(verdict.retry_after_seconds)}, detail=verdict.detail)


class Responder:
    """Answers, logs and counts the outcomes of one stream's hits."""

    def __init__(self, stream: str, auth: Auth, metrics: StreamMetrics) -> None:
        self._stream = stream
        self._acknowledgement = stored_answer(auth)  # the sender's own "stored" answer (Salesforce's Ack)
        self._metrics = metrics

    def respond(self, outcome: HitOutcome) -> Response:
        self._log(outcome)
        self._metrics.record(outcome.status, outcome.code, outcome.latency_ms, handshake=outcome.kind == "handshake")
        return self._response(outcome)

    def _response(self, outcome: HitOutcome) -> Response:
        if outcome.handshake is not None:
            return answer_response(outcome.handshake)
        if outcome.kind in ("stored", "spooled"):
            if self._acknowledgement is not None:
                return answer_response(self._acknowledgement)
            # "spooled": not in the table yet, but durably in the spool; replay writes it (same hit_id).
            return json_response(200, {"hit_id": outcome.hit_id, "status": outcome.kind, "stream": self._stream})
        return error_response(outcome.status, outcome.code or "error", outcome.message or "", outcome.headers)

    def _log(self, outcome: HitOutcome) -> None:
        kind, fields = outcome.kind, {"stream": self._stream, "trace": outcome.trace}
        if kind in ("stored", "spooled"):
            # One line per hit, on the cheap path (log-based metrics count and time them).
            log_fields(log, logging.INFO, f"hit {kind}", {
                **fields, "hit_id": outcome.hit_id, "bytes": outcome.payload_bytes,
                "latency_ms": round(outcome.latency_ms, 2)})
        elif kind == "not_stored":
            log.error("hit not stored", extra={**fields, "hit_id": outcome.hit_id, "reason": outcome.detail})
        elif kind == "handshake":
            log.info("handshake answered", extra=fields)
        elif outcome.code == "row_rejected":  # the table refused the row: likely the stream owner's to fix
            log.error("hit rejected", extra={**fields, "hit_id": outcome.hit_id, "reason": outcome.code,
                                             "status": outcome.status, "detail": outcome.detail})
        else:
            log.warning(f"hit {kind}", extra={**fields, "reason": outcome.code, "status": outcome.status})
