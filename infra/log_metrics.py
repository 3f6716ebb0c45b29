"""The log-based metrics: what the service's own JSON log lines (service/runtime/app.py) count.

On Cloud Run a JSON line on stdout becomes a LogEntry whose jsonPayload holds the line's fields (severity
and the trace move to the entry itself). Every hit ends in exactly one line of the `hookstream.hits` logger:
"hit stored" (stream, hit_id, bytes, latency_ms), "hit refused" (401: stream, reason, status), "hit rejected"
(other 4xx: stream, reason, status) or "hit not stored" (503: stream, hit_id, reason). No code on the request
path exists for monitoring; renaming a field fails tests/runtime/test_log_metric_filters.py, which runs these
filters on lines the real service printed.

Filters use one form only: clauses joined by AND, each `FIELD = "value"` or `FIELD = ("a" OR "b")`, which the
test evaluates exactly (Logging query language; string comparison there ignores case).
"""

from __future__ import annotations

from dataclasses import dataclass

LOGGER = "hookstream.hits"
RESOURCE_TYPE = "cloud_run_revision"
METRIC_PREFIX = "hookstream"


@dataclass(frozen=True)
class LogMetric:
    key: str  # the construct id and the metric name's last part
    title: str
    description: str
    messages: tuple[str, ...]
    # (metric label, jsonPayload field): every metric is per stream.
    labels: tuple[tuple[str, str], ...] = (("stream", "stream"),)
    # A DISTRIBUTION of this jsonPayload field (milliseconds); None: a count of matching lines.
    value_field: str | None = None
    unit: str = "1"

    @property
    def name(self) -> str:
        return f"{METRIC_PREFIX}/{self.key}"

    @property
    def metric_type(self) -> str:
        return f"logging.googleapis.com/user/{self.name}"

    @property
    def clauses(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return (("resource.type", (RESOURCE_TYPE,)), ("jsonPayload.logger", (LOGGER,)),
                ("jsonPayload.message", self.messages))

    @property
    def filter(self) -> str:
        return " AND ".join(f"{field} = {_values(values)}" for field, values in self.clauses)

    @property
    def label_extractors(self) -> dict[str, str]:
        return {label: f"EXTRACT(jsonPayload.{field})" for label, field in self.labels}

    @property
    def value_extractor(self) -> str | None:
        return f"EXTRACT(jsonPayload.{self.value_field})" if self.value_field else None


def _values(values: tuple[str, ...]) -> str:
    quoted = [f'"{value}"' for value in values]
    return quoted[0] if len(quoted) == 1 else f"({' OR '.join(quoted)})"


STORED = LogMetric("hits-stored", "Hits stored", "Hits written to BigQuery and answered 2xx, per stream.",
                   ("hit stored",))
REFUSED = LogMetric("hits-refused", "Hits refused",
                    "Hits answered 4xx (bad secret or signature, empty or oversized body...), per stream, "
                    "reason and status.", ("hit refused", "hit rejected"),
                    labels=(("stream", "stream"), ("reason", "reason"), ("status", "status")))
NOT_STORED = LogMetric("hits-not-stored", "Hits not stored",
                       "Hits answered 503 because BigQuery did not take the row in time, per stream: only the "
                       "CRM's retries stand between them and loss.", ("hit not stored",))
LATENCY = LogMetric("hit-latency", "Hit latency",
                    "Milliseconds from receiving a hit to answering that it is stored, per stream.",
                    ("hit stored",), value_field="latency_ms", unit="ms")
LOG_METRICS = (STORED, REFUSED, NOT_STORED, LATENCY)
