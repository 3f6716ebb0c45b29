"""Metrics, alert policies and the dashboard as synthesized (tests/runtime/test_log_metric_filters.py checks
the filters against the service's real log lines)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from infra.naming import STREAMS_STACK
from service.model.stream import Stream, StreamDefinitionError
from tests.infra.helpers import CONFIG, Synth, synthesize

pytestmark = pytest.mark.synth

WATCHED = Stream(name="orders", dataset="crm", table="orders", alert_if_silent_for=timedelta(hours=12))
QUIET = Stream(name="leads", dataset="crm", table="leads")
EMAILS = ("oncall@acme.example", "data@acme.example")


@pytest.fixture(scope="module")
def alerted() -> Synth:
    return synthesize((WATCHED, QUIET), replace(CONFIG, alert_emails=EMAILS))


def policy(synth: Synth, name: str) -> dict[str, Any]:
    return synth.resource(STREAMS_STACK, "google_monitoring_alert_policy", name)


def test_log_metrics_are_synthesized_with_their_filters(alerted: Synth) -> None:
    metrics = {body["name"]: body for body in alerted.resources(STREAMS_STACK, "google_logging_metric").values()}
    assert set(metrics) == {"hookstream/hits-stored", "hookstream/hits-refused", "hookstream/hits-not-stored",
                            "hookstream/hit-latency", "hookstream/hits-spooled", "hookstream/replay-runs",
                            "hookstream/spool-oldest-age", "hookstream/spool-quarantined"}
    assert metrics["hookstream/hits-spooled"]["filter"] == (
        'resource.type = "cloud_run_revision" AND jsonPayload.logger = "hookstream.hits" AND '
        'jsonPayload.message = "hit spooled"')
    assert metrics["hookstream/hits-refused"]["filter"] == (
        'resource.type = "cloud_run_revision" AND jsonPayload.logger = "hookstream.hits" AND '
        'jsonPayload.message = ("hit refused" OR "hit rejected")')
    assert metrics["hookstream/hits-refused"]["label_extractors"] == {
        "stream": "EXTRACT(jsonPayload.stream)", "reason": "EXTRACT(jsonPayload.reason)",
        "status": "EXTRACT(jsonPayload.status)"}
    latency = metrics["hookstream/hit-latency"]
    assert latency["metric_descriptor"]["value_type"] == "DISTRIBUTION"
    assert latency["value_extractor"] == "EXTRACT(jsonPayload.latency_ms)"
    assert latency["bucket_options"]["exponential_buckets"]["num_finite_buckets"] == 32
    assert metrics["hookstream/hits-stored"]["metric_descriptor"]["value_type"] == "INT64"


def test_each_stream_gets_its_alerts_and_silence_only_where_asked(alerted: Synth) -> None:
    names = set(alerted.resources(STREAMS_STACK, "google_monitoring_alert_policy"))
    assert names == {"alert-5xx-orders", "alert-not-stored-orders", "alert-unauthorized-orders",
                     "alert-silent-orders", "alert-5xx-leads", "alert-not-stored-leads",
                     "alert-unauthorized-leads", "alert-spooled-orders", "alert-spooled-leads",
                     # the spool's replay, per stream (test_replay_alerts_fire_hours_before_spooled_hits_expire)
                     *(f"alert-{kind}-{stream}" for kind in ("replay-failed", "replay-silent", "spool-age",
                                                             "quarantined") for stream in ("orders", "leads"))}
    channels = [alerted.ref(STREAMS_STACK, "google_monitoring_notification_channel", f"alert-email-{i}", "name")
                for i in range(2)]
    for name in names:
        assert policy(alerted, name)["notification_channels"] == channels
        assert policy(alerted, name)["user_labels"] == {"hookstream-stream": name.rsplit("-", 1)[-1]}


def test_silence_is_a_metric_absence_summed_over_revisions(alerted: Synth) -> None:
    silent = policy(alerted, "alert-silent-orders")
    assert silent["display_name"] == "hookstream orders: no hit stored for 12 h"
    (condition,) = silent["conditions"]
    absent = condition["condition_absent"]
    assert absent["duration"] == "43200s"
    assert absent["filter"] == ('metric.type = "logging.googleapis.com/user/hookstream/hits-stored" AND '
                                'resource.type = "cloud_run_revision" AND metric.labels.stream = "orders"')
    assert absent["aggregations"] == [{"alignment_period": "60s", "per_series_aligner": "ALIGN_SUM",
                                       "cross_series_reducer": "REDUCE_SUM",
                                       "group_by_fields": ["metric.label.stream"]}]


def test_not_stored_and_401_bursts(alerted: Synth) -> None:
    not_stored = policy(alerted, "alert-not-stored-leads")["conditions"][0]["condition_threshold"]
    assert (not_stored["comparison"], not_stored["threshold_value"], not_stored["duration"]) == (
        "COMPARISON_GT", 0, "0s")
    assert 'user/hookstream/hits-not-stored"' in not_stored["filter"]
    assert not_stored["aggregations"][0]["alignment_period"] == "300s"
    burst = policy(alerted, "alert-unauthorized-leads")["conditions"][0]["condition_threshold"]
    assert burst["filter"].endswith('metric.labels.stream = "leads" AND metric.labels.status = "401"')
    assert burst["threshold_value"] == 10
    # A policy on a log-based metric waits for the metrics (the chain: tests/infra/test_first_deploy.py).
    assert policy(alerted, "alert-unauthorized-leads")["depends_on"] == ["time_sleep.log-metrics-propagated",
                                                                       "time_sleep.apis-propagated"]


def test_one_dashboard_for_all_streams(alerted: Synth) -> None:
    (dashboard,) = alerted.resources(STREAMS_STACK, "google_monitoring_dashboard").values()
    layout = json.loads(dashboard["dashboard_json"])
    titles = [tile["widget"]["title"] for tile in layout["mosaicLayout"]["tiles"]]
    assert titles == ["Received (requests per second, by service)", "Stored (hits per second, by stream)",
                      "Refused (hits per second, by stream and reason)", "Not stored (hits per second, by stream)",
                      "Spooled (hits per second, by stream)", "Latency, received to stored (ms)"]
    filters = [data_set["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
               for tile in layout["mosaicLayout"]["tiles"] for data_set in tile["widget"]["xyChart"]["dataSets"]]
    assert 'resource.label.service_name = starts_with("hookstream-")' in filters[0]
    assert any("user/hookstream/hit-latency" in f for f in filters)


def test_the_dashboard_holds_no_value_the_api_drops(alerted: Synth) -> None:
    """The API leaves out zeros and empty values; the provider would then plan a change on every run."""
    (dashboard,) = alerted.resources(STREAMS_STACK, "google_monitoring_dashboard").values()
    layout = json.loads(dashboard["dashboard_json"])

    def defaults(value: Any, where: str = "") -> list[str]:
        if isinstance(value, dict):
            return [found for key, item in value.items() for found in defaults(item, f"{where}.{key}")]
        if isinstance(value, list):
            return [found for index, item in enumerate(value) for found in defaults(item, f"{where}[{index}]")]
        return [where] if value in (0, "", None) and value is not True else []

    assert defaults(layout) == []
    tiles = layout["mosaicLayout"]["tiles"]
    # The first tile sits at (0, 0): both left out; the second at xPos 24; the third at yPos 16.
    assert ("xPos" not in tiles[0], "yPos" not in tiles[0], tiles[1]["xPos"], tiles[2]["yPos"]) == (True, True, 24, 16)


def test_without_recipients_no_channels_and_no_policies(shipped: Synth) -> None:
    resources = shipped.stacks[STREAMS_STACK]["resource"]
    assert "google_monitoring_alert_policy" not in resources
    assert "google_monitoring_notification_channel" not in resources
    assert len(resources["google_logging_metric"]) == 8 and len(resources["google_monitoring_dashboard"]) == 1


@pytest.mark.parametrize("silence", [timedelta(hours=24), timedelta(seconds=90), timedelta(minutes=10, seconds=30)],
                         ids=["24h", "90s", "not-whole-minutes"])
def test_silence_outside_cloud_monitorings_limits_is_refused(silence: timedelta) -> None:
    with pytest.raises(StreamDefinitionError) as error:
        replace(WATCHED, alert_if_silent_for=silence)
    assert "stream 'orders': alert_if_silent_for=" in str(error.value)
    assert "whole minutes from 2 minutes to 23 hours 30 minutes" in str(error.value)


def test_spool_age_is_a_distribution_of_seconds_up_past_thirty_days(alerted: Synth) -> None:
    metrics = {body["name"]: body for body in alerted.resources(STREAMS_STACK, "google_logging_metric").values()}
    age = metrics["hookstream/spool-oldest-age"]
    assert age["filter"] == ('resource.type = "cloud_run_job" AND jsonPayload.logger = "hookstream.replay" AND '
                             'jsonPayload.message = "replay finished"')
    assert age["value_extractor"] == "EXTRACT(jsonPayload.oldest_waiting_age_seconds)"
    assert age["metric_descriptor"]["value_type"] == "DISTRIBUTION" and age["metric_descriptor"]["unit"] == "s"
    buckets = age["bucket_options"]["exponential_buckets"]
    # The top finite bucket (1.6^32 s, ~39 days) lies past the 30-day deletion (2,592,000 s).
    assert buckets["scale"] * buckets["growth_factor"] ** buckets["num_finite_buckets"] > 2_592_000


def test_replay_alerts_fire_hours_before_spooled_hits_expire(alerted: Synth) -> None:
    failed = policy(alerted, "alert-replay-failed-orders")["conditions"][0]["condition_threshold"]
    assert failed["filter"] == (
        'metric.type = "logging.googleapis.com/user/hookstream/replay-runs" AND resource.type = "cloud_run_job"'
        ' AND metric.labels.stream = "orders" AND metric.labels.status = one_of("lock_lost", '
        '"bigquery_unavailable", "spool_unavailable", "incomplete")'.replace('", "', '" OR "'))
    assert (failed["comparison"], failed["threshold_value"]) == ("COMPARISON_GT", 0)
    silent = policy(alerted, "alert-replay-silent-orders")["conditions"][0]["condition_absent"]
    assert silent["duration"] == "1800s"
    assert silent["filter"].endswith('metric.labels.stream = "orders"')
    age = policy(alerted, "alert-spool-age-orders")
    condition = age["conditions"][0]["condition_threshold"]
    assert condition["threshold_value"] == 21600  # 6 hours: alert at hours, deletion at 30 days
    assert condition["aggregations"][0]["cross_series_reducer"] == "REDUCE_MAX"
    assert "user/hookstream/spool-oldest-age" in condition["filter"]
    assert "30 days" in age["documentation"]["content"] and "7 days" in age["documentation"]["content"]
    quarantined = policy(alerted, "alert-quarantined-leads")["conditions"][0]["condition_threshold"]
    assert quarantined["filter"].startswith(
        'metric.type = "logging.googleapis.com/user/hookstream/spool-quarantined" AND resource.type = "cloud_run_job"')
    assert (quarantined["comparison"], quarantined["threshold_value"]) == ("COMPARISON_GT", 0)
