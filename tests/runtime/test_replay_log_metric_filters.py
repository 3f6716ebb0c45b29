"""The replay's log-based metrics count the lines of its log contract (service/runtime/replay.py).

The lines below are written out by hand from that contract: logger `hookstream.replay`, a Cloud Run job's
entries (resource type `cloud_run_job`), "spool object quarantined" per object and "replay finished" per run.
"""

from __future__ import annotations

from typing import Any

from infra.log_metrics import LOG_METRICS, QUARANTINED, REPLAY_FAILED_STATUSES, REPLAY_RUNS, SPOOL_AGE
from tests.logging_filter import extract, matches


def job_entry(line: dict[str, Any], job_name: str = "hookstream-replay-crm-orders") -> dict[str, Any]:
    """What Cloud Logging makes of a JSON line a Cloud Run job's task prints on stdout."""
    return {"resource": {"type": "cloud_run_job", "labels": {"job_name": job_name, "location": "europe-west3"}},
            "severity": line.get("severity", "DEFAULT"),
            "jsonPayload": {key: value for key, value in line.items() if key != "severity"}}


FINISHED_WAITING = {"severity": "WARNING", "message": "replay finished", "logger": "hookstream.replay",
                    "stream": "crm-orders", "status": "bigquery_unavailable", "waiting": 12,
                    "oldest_waiting_age_seconds": 25200.5, "quarantined": 0}
FINISHED_DRAINED = {"severity": "INFO", "message": "replay finished", "logger": "hookstream.replay",
                    "stream": "crm-orders", "status": "drained", "waiting": 0, "oldest_waiting_age_seconds": None,
                    "quarantined": 1}
QUARANTINE = {"severity": "ERROR", "message": "spool object quarantined", "logger": "hookstream.replay",
              "stream": "crm-orders", "object": "spool/crm-orders/2026/12/07/abc.json",
              "error": "received_at is not a finite number"}


def test_each_run_counts_once_with_its_stream_and_status() -> None:
    for line, status in ((FINISHED_WAITING, "bigquery_unavailable"), (FINISHED_DRAINED, "drained")):
        entry = job_entry(line)
        assert matches(REPLAY_RUNS.filter, entry)
        assert extract(REPLAY_RUNS.label_extractors["stream"], entry) == "crm-orders"
        assert extract(REPLAY_RUNS.label_extractors["status"], entry) == status


def test_the_oldest_age_is_the_distributions_value() -> None:
    entry = job_entry(FINISHED_WAITING)
    assert matches(SPOOL_AGE.filter, entry)
    assert extract(SPOOL_AGE.value_extractor or "", entry) == "25200.5"
    # A run with nothing waiting logs null: no value to add to the distribution.
    assert extract(SPOOL_AGE.value_extractor or "", job_entry(FINISHED_DRAINED)) is None


def test_each_quarantined_object_counts_once() -> None:
    entry = job_entry(QUARANTINE)
    assert matches(QUARANTINED.filter, entry)
    assert extract(QUARANTINED.label_extractors["stream"], entry) == "crm-orders"
    assert not matches(QUARANTINED.filter, job_entry(FINISHED_DRAINED))


def test_the_failed_statuses_are_those_that_leave_hits_behind() -> None:
    assert REPLAY_FAILED_STATUSES == ("lock_lost", "bigquery_unavailable", "spool_unavailable", "incomplete")


def test_replay_lines_count_in_no_endpoint_metric_and_endpoint_lines_in_no_replay_metric() -> None:
    replay_metrics = {REPLAY_RUNS.key, SPOOL_AGE.key, QUARANTINED.key}
    for line in (FINISHED_WAITING, FINISHED_DRAINED, QUARANTINE):
        counted = {metric.key for metric in LOG_METRICS if matches(metric.filter, job_entry(line))}
        assert counted <= replay_metrics, (line["message"], counted)
    hit = {"resource": {"type": "cloud_run_revision", "labels": {"service_name": "hookstream-crm-orders"}},
           "jsonPayload": {"message": "replay finished", "logger": "hookstream.hits", "stream": "crm-orders"}}
    assert not any(matches(metric.filter, hit) for metric in (REPLAY_RUNS, SPOOL_AGE, QUARANTINED))
    # The same line from a service's revision (not the job) counts nowhere either.
    from_revision = {**job_entry(FINISHED_WAITING), "resource": {"type": "cloud_run_revision", "labels": {}}}
    assert not matches(REPLAY_RUNS.filter, from_revision)
