"""A first apply that needs no re-run: what needs a grant or a new metric waits until Google has it in effect.

`depends_on` alone orders the API calls; the time_sleep between them is what waits (infra/propagation.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from infra.naming import STREAMS_STACK
from infra.streams import STREAMS
from service.model.stream import Stream
from tests.infra.helpers import CONFIG, VARIED_STREAMS, Synth, synthesize

pytestmark = pytest.mark.synth
# Every google resource also waits for the stack's APIs (tests/infra/test_project_apis.py).
APIS_READY = "time_sleep.apis-propagated"


def address(synth: Synth, resource_type: str, path: str) -> str:
    return f"{resource_type}.{synth.resource(STREAMS_STACK, resource_type, path)['_key']}"


def sleep(synth: Synth, path: str) -> dict[str, Any]:
    return synth.resource(STREAMS_STACK, "time_sleep", path)


@pytest.mark.parametrize("which", ["shipped", "varied"])
def test_each_service_starts_two_minutes_after_its_grants(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    streams: tuple[Stream, ...] = STREAMS if which == "shipped" else VARIED_STREAMS
    for stream in streams:
        name = stream.name
        wait = sleep(synth, f"{name}/{name}-grants-propagated")
        assert wait["create_duration"] == "120s"
        grants = {address(synth, "google_bigquery_table_iam_member", f"{name}/{name}-table-writer"),
                  address(synth, "google_bigquery_dataset_access", f"{name}/{name}-dataset-reader")}
        if stream.auth.mode != "none":
            grants.add(address(synth, "google_secret_manager_secret_iam_member", f"{name}/{name}-secret-reader"))
        assert set(wait["depends_on"]) == grants
        service = synth.resource(STREAMS_STACK, "google_cloud_run_v2_service", f"{name}/{name}-service")
        expected = [address(synth, "time_sleep", f"{name}/{name}-grants-propagated")]
        if stream.auth.mode != "none":
            expected.append(address(synth, "google_secret_manager_secret_version", f"{name}/{name}-secret-version"))
        assert service["depends_on"] == [*expected, APIS_READY]


def test_the_dataset_grant_gives_the_stream_account_dataset_metadata(shipped: Synth) -> None:
    for stream in STREAMS:
        grant = shipped.resource(STREAMS_STACK, "google_bigquery_dataset_access",
                                 f"{stream.name}/{stream.name}-dataset-reader")
        assert grant["role"] == shipped.ref(STREAMS_STACK, "google_project_iam_custom_role", "dataset-reader-role",
                                            "name")
        assert grant["user_by_email"] == shipped.ref(STREAMS_STACK, "google_service_account",
                                                     f"{stream.name}/{stream.name}-sa", "email")


def test_each_replay_job_starts_two_minutes_after_the_replays_grants(shipped: Synth) -> None:
    for stream in STREAMS:
        name = stream.name
        wait = sleep(shipped, f"{name}/{name}-replay-grants-propagated")
        assert wait["create_duration"] == "120s"
        assert set(wait["depends_on"]) == {
            address(shipped, "google_bigquery_table_iam_member", f"{name}/{name}-replay-table-access"),
            address(shipped, "google_storage_bucket_iam_member", f"{name}/{name}-replay-objects"),
            address(shipped, "google_storage_bucket_iam_member", f"{name}/{name}-replay-list"),
            address(shipped, "google_project_iam_member", f"{name}/{name}-replay-job-user"),
            address(shipped, "google_bigquery_dataset_access", f"{name}/{name}-replay-dataset-reader"),
        }
        job = shipped.resource(STREAMS_STACK, "google_cloud_run_v2_job", f"{name}/{name}-replay-job")
        assert job["depends_on"] == [address(shipped, "time_sleep", f"{name}/{name}-replay-grants-propagated"),
                                     APIS_READY]


def test_alert_policies_on_log_metrics_wait_a_minute_after_the_metrics() -> None:
    synth = synthesize(STREAMS[:1], replace(CONFIG, alert_emails=("oncall@acme.example",)))
    wait = sleep(synth, "log-metrics-propagated")
    assert wait["create_duration"] == "60s"
    metrics = {f"google_logging_metric.{body['_key']}"
               for body in synth.resources(STREAMS_STACK, "google_logging_metric").values()}
    assert len(metrics) >= 5 and set(wait["depends_on"]) == metrics
    policies = synth.resources(STREAMS_STACK, "google_monitoring_alert_policy")
    waited = address(synth, "time_sleep", "log-metrics-propagated")
    on_log_metrics = [body for body in policies.values()
                      if "logging.googleapis.com/user/" in json_text(body["conditions"])]
    assert on_log_metrics
    for body in on_log_metrics:
        assert body["depends_on"] == [waited, APIS_READY], body["display_name"]


def test_the_time_provider_is_pinned_like_the_others(shipped: Synth) -> None:
    assert "time" in shipped.stacks[STREAMS_STACK]["terraform"]["required_providers"]


def json_text(value: object) -> str:
    import json

    return json.dumps(value)
