"""The log-based metrics count what the real service logs: filters and extractors run on its own lines.

A real gunicorn serves a token stream against the BigQuery emulator; each kind of hit is sent with requests
(stored, each refusal reason a CRM can cause here, a write that fails because the table is gone). What the
metrics must count comes from the HTTP answers the sender saw, not from the filters under test.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.log_metrics import LATENCY, LOG_METRICS, NOT_STORED, REFUSED, STORED, LogMetric
from service.model.stream import Stream
from tests.conftest import Emulator, ServiceFactory
from tests.logging_filter import UnsupportedFilter, cloud_run_entry, extract, matches, parse

SECRET = "metrics-secret-0123456789abcdef"
STREAM = Stream(name="metric-hits", dataset="metrics", table="hits", max_body_bytes=1024)


def entries(log_path: Path, service_name: str) -> list[dict[str, Any]]:
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue  # gunicorn's own start-up lines
        if isinstance(parsed, dict):
            found.append(cloud_run_entry(parsed, service_name))
    return found


def counted(metric: LogMetric, log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in log if matches(metric.filter, entry)]


def test_metrics_count_exactly_what_the_senders_were_answered(
        start_stream_service: ServiceFactory, emulator: Emulator) -> None:
    service = start_stream_service(STREAM, secrets=(SECRET,))
    url = service.hooks_url
    sends = [
        ("post", f"{url}/{SECRET}", b"orderId=1&status=paid"),
        ("get", f"{url}/{SECRET}?orderId=2", None),
        ("post", f"{url}/{SECRET}", b'{"orderId": 3}'),
        ("post", url, b"orderId=4"),  # missing_token
        ("post", f"{url}/not-the-secret", b"orderId=5"),  # bad_token
        ("post", f"{url}/{SECRET}", b""),  # empty_body
        ("get", f"{url}/{SECRET}", None),  # empty_query
        ("post", f"{url}/{SECRET}", b"order=\xff"),  # invalid_utf8
        ("post", f"{url}/{SECRET}", b"x" * 2048),  # body_too_large
    ]
    answers = [requests.request(method, target, data=body, timeout=30) for method, target, body in sends]
    # A write that fails: the table is gone, BigQuery answers 404, the hit is refused with 503.
    emulator.client.delete_table(f"{emulator.project}.{STREAM.dataset}.{STREAM.table}")
    answers.append(requests.post(f"{url}/{SECRET}", data=b"orderId=6", timeout=60))
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200, 200, 200, 401, 401, 400, 400, 400, 413, 503], [a.text for a in answers]
    service.process.stop()  # everything it logged is on disk

    log = entries(service.process.log_path, "hookstream-metric-hits")
    stored = counted(STORED, log)
    assert len(stored) == 3
    assert [extract(STORED.label_extractors["stream"], e) for e in stored] == ["metric-hits"] * 3
    latencies = [extract(LATENCY.value_extractor or "", e) for e in counted(LATENCY, log)]
    assert len(latencies) == 3 and all(float(value or "nan") >= 0 for value in latencies)

    refused = counted(REFUSED, log)
    seen = Counter((extract(REFUSED.label_extractors["reason"], e), extract(REFUSED.label_extractors["status"], e),
                    extract(REFUSED.label_extractors["stream"], e)) for e in refused)
    expected = Counter((answer.json()["error"]["code"], str(answer.status_code), "metric-hits")
                       for answer in answers if 400 <= answer.status_code < 500)
    assert seen == expected
    assert {reason for reason, _, _ in seen} == {"missing_token", "bad_token", "empty_body", "empty_query",
                                                 "invalid_utf8", "body_too_large"}

    not_stored = counted(NOT_STORED, log)
    assert [extract(NOT_STORED.label_extractors["stream"], e) for e in not_stored] == ["metric-hits"]
    # No line counts twice, and the service's other lines (start-up, batches, counters) count nowhere.
    for entry in log:
        assert sum(matches(m.filter, entry) for m in (STORED, REFUSED, NOT_STORED)) <= 1


def test_a_renamed_field_would_count_nothing() -> None:
    """The check above can fail: the same line with `message` renamed matches no metric."""
    line = {"severity": "INFO", "message": "hit stored", "logger": "hookstream.hits", "stream": "s", "latency_ms": 3}
    assert matches(STORED.filter, cloud_run_entry(line, "hookstream-s"))
    renamed = {("msg" if key == "message" else key): value for key, value in line.items()}
    assert not any(matches(metric.filter, cloud_run_entry(renamed, "hookstream-s")) for metric in LOG_METRICS)


def test_the_filters_stay_in_the_checked_form() -> None:
    for metric in LOG_METRICS:
        # The endpoint's lines come from the service's revisions, the replay's from its Cloud Run job.
        resource = "cloud_run_job" if metric.logger == "hookstream.replay" else "cloud_run_revision"
        assert parse(metric.filter)[0] == ("resource.type", (resource,))
    assert parse(REFUSED.filter)[2] == ("jsonPayload.message", ("hit refused", "hit rejected"))
    with pytest.raises(UnsupportedFilter):
        parse('jsonPayload.message:"hit"')  # ':' (has) must be refused, not evaluated as '='
    with pytest.raises(UnsupportedFilter):
        parse('jsonPayload.message = "a" OR jsonPayload.message = "b"')
