"""The log-based metrics: what the service's own JSON log lines (service/runtime/app.py) count.

On Cloud Run a JSON line on stdout becomes a LogEntry whose jsonPayload holds the line's fields (severity
and the trace move to the entry itself). Every hit ends in exactly one line of the `hookstream.hits` logger:
"hit stored" (stream, hit_id, bytes, latency_ms), "hit spooled" (2xx, but written to the spool because
BigQuery did not take it: same fields; docs/spool.md), "hit refused" (401: stream, reason, status), "hit rejected"
(other 4xx: stream, reason, status) or "hit not stored" (503: stream, hit_id, reason). No code on the request
path exists for monitoring; renaming a field fails tests/runtime/test_log_metric_filters.py, which runs these
filters on lines the real service printed.

The replay job (service/runtime/replay.py, logger `hookstream.replay`) logs "spool object quarantined"
(ERROR: stream, object, error) per object it cannot replay, and "replay finished" at the end of every run
(stream, status, waiting, oldest_waiting_age_seconds or null, quarantined);
tests/runtime/test_replay_log_metric_filters.py runs those filters on lines of that contract.

Filters use one form only: clauses joined by AND, each `FIELD = "value"` or `FIELD = ("a" OR "b")`, which the
test evaluates exactly (Logging query language; string comparison there ignores case).
"""

from __future__ import annotations

from dataclasses import dataclass

LOGGER = "hookstream.hits"
RESOURCE_TYPE = "cloud_run_revision"
# The replay runs as a Cloud Run job: its lines are entries of the job's resource type, one logger for all.
REPLAY_LOGGER = "hookstream.replay"
JOB_RESOURCE_TYPE = "cloud_run_job"
METRIC_PREFIX = "hookstream"
# "replay finished" statuses of a run that left objects it should have replayed: an outage or a lost lease.
# drained (nothing left) and locked (another run holds the lease) are healthy.
REPLAY_FAILED_STATUSES = ("lock_lost", "bigquery_unavailable", "spool_unavailable", "incomplete")


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
    logger: str = LOGGER
    resource_type: str = RESOURCE_TYPE
    # A distribution's exponential buckets (scale, growth factor) over 32 finite buckets.
    buckets: tuple[float, float] = (1, 1.4)

    @property
    def name(self) -> str:
        return f"{METRIC_PREFIX}/{self.key}"

    @property
    def metric_type(self) -> str:
        return f"logging.googleapis.com/user/{self.name}"

    @property
    def clauses(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return (("resource.type", (self.resource_type,)), ("jsonPayload.logger", (self.logger,)),
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
                       "Hits answered 5xx because neither BigQuery (within the write deadline) nor the spool took "
                       "the row, per stream: only the CRM's retries stand between them and loss.", ("hit not stored",))
# 1 ms to ~33 s in the default 32 buckets: a hit is answered within the stream's write deadline.
LATENCY = LogMetric("hit-latency", "Hit latency",
                    "Milliseconds from receiving a hit to answering that it is stored, per stream.",
                    ("hit stored",), value_field="latency_ms", unit="ms")
SPOOLED = LogMetric("hits-spooled", "Hits spooled",
                    "Hits BigQuery did not take, written to the stream's spool and answered 2xx, per stream: the "
                    "replay job writes them to the table later (docs/spool.md).", ("hit spooled",))
REPLAY_RUNS = LogMetric("replay-runs", "Replay runs",
                        "Replay job runs, per stream and final status (drained, locked, lock_lost, "
                        "bigquery_unavailable, spool_unavailable, incomplete): docs/spool.md.", ("replay finished",),
                        labels=(("stream", "stream"), ("status", "status")), logger=REPLAY_LOGGER,
                        resource_type=JOB_RESOURCE_TYPE)
# 1 s to ~39 days in 32 buckets: past the spool's 30-day lifecycle deletion.
SPOOL_AGE = LogMetric("spool-oldest-age", "Oldest spooled hit",
                      "Age in seconds of the oldest hit waiting in the stream's spool at the end of each replay "
                      "run (runs with nothing waiting add no value).", ("replay finished",),
                      value_field="oldest_waiting_age_seconds", unit="s", logger=REPLAY_LOGGER,
                      resource_type=JOB_RESOURCE_TYPE, buckets=(1, 1.6))
QUARANTINED = LogMetric("spool-quarantined", "Spool objects quarantined",
                        "Spooled objects the replay could not read or validate, moved to the quarantine prefix "
                        "with their error (docs/spool.md says how to inspect and re-drive them).",
                        ("spool object quarantined",), logger=REPLAY_LOGGER, resource_type=JOB_RESOURCE_TYPE)
# The Google Ads upload job (service/ads/__main__.py): one "ads upload failed" line per run with failed events.
# Deployed only with a stream that declares ads (infra/ads_resources.py), so not in LOG_METRICS.
ADS_LOGGER = "hookstream.ads"
ADS_UPLOAD_FAILED = LogMetric("ads-upload-failed", "Google Ads uploads failed",
                              "Upload runs with events Data Manager refused or throttled, per stream: they are sent "
                              "again by the next run (docs/ads.md).", ("ads upload failed",), logger=ADS_LOGGER,
                              resource_type=JOB_RESOURCE_TYPE)
LOG_METRICS = (STORED, REFUSED, NOT_STORED, LATENCY, SPOOLED, REPLAY_RUNS, SPOOL_AGE, QUARANTINED)
