"""Metrics, alerts and the dashboard of a deployment, all from what Cloud Run and the service already log.

- Log-based metrics (infra/log_metrics.py): hits stored, refused (by reason and status), not stored, latency.
- One dashboard for all streams: received (Cloud Run's request count), stored, refused, not stored, latency.
- Alert policies per stream, to the environment's `alert_emails` (none configured: no channels, no policies):
  the endpoint answers 5xx; any hit not stored in 5 minutes; a burst of 401s (a rotated secret the CRM
  was not given); and, where the stream sets `alert_if_silent_for`, no hit stored for that long.
  For the spool's replay: a run that ends without replaying what waits, no run finishing for 30 minutes,
  the oldest spooled hit older than 6 hours, and any object quarantined.

Construct ids are the stack's direct children and never change: a new id would replace the resource.
Series are summed per stream across revisions: every deploy starts a revision with series of its own, and
a per-revision "no data" condition would fire for the old one after each deploy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from constructs import Construct

from infra.config import DeployConfig
from infra.engine import providers as gcp
from infra.log_metrics import (
    LATENCY,
    LOG_METRICS,
    NOT_STORED,
    QUARANTINED,
    REFUSED,
    REPLAY_FAILED_STATUSES,
    REPLAY_RUNS,
    SPOOL_AGE,
    SPOOLED,
    STORED,
    LogMetric,
)
from infra.naming import StreamNames
from infra.propagation import METRIC_PROPAGATION, wait_after
from infra.spool_resources import replay_job_name
from service.model.stream import Stream

STREAM_LABEL = "hookstream-stream"
WINDOW = "300s"
# 401s per stream in 5 minutes that page someone: a CRM retrying with an old secret sends steadily; a few
# strays (a scanner, a typo while testing) do not.
UNAUTHORIZED_BURST = 10
SERVICE_PREFIX = "hookstream-"
# Alert at hours, long before the spool's lifecycle rule deletes a hit at 30 days (docs/spool.md).
SPOOL_AGE_ALERT_SECONDS = 6 * 60 * 60
# The replay runs every 5 minutes: six runs in a row without a "replay finished" line is not a hiccup.
REPLAY_SILENT_SECONDS = 30 * 60


@dataclass
class Observability:
    metrics: dict[str, gcp.LoggingMetric]
    dashboard: gcp.MonitoringDashboard
    channels: list[gcp.MonitoringNotificationChannel] = field(default_factory=list)
    policies: list[gcp.MonitoringAlertPolicy] = field(default_factory=list)


def no_alerts_warning(config: DeployConfig) -> str | None:
    """Said once per synth: metrics and the dashboard are deployed, but nobody is told about anything."""
    if config.alert_emails:
        return None
    where = f"environment {config.environment!r} in infra/environments.py" if config.environment else "this deployment"
    return (f"{where} has no alert_emails: no alert policies are deployed (metrics and the dashboard are); "
            "add recipients to be told when a stream stops storing hits")


def build_observability(stack: Construct, streams: tuple[Stream, ...], config: DeployConfig,
                        names: dict[str, StreamNames]) -> Observability:
    metrics = {metric.key: log_metric(stack, metric) for metric in LOG_METRICS}
    dashboard = gcp.MonitoringDashboard(stack, "dashboard", dashboard_json=json.dumps(dashboard_json(config)))
    result = Observability(metrics, dashboard)
    if not config.alert_emails:
        return result
    result.channels = [gcp.MonitoringNotificationChannel(
        stack, f"alert-email-{index}", display_name=f"hookstream alerts: {email}", type="email",
        labels={"email_address": email}) for index, email in enumerate(config.alert_emails)]
    channel_names = [channel.name for channel in result.channels]
    # A policy on a log-based metric is refused until Monitoring knows the metric, which is some time after
    # the metric is created: wait (docs/deploy.md, "First deploy").
    metrics_known = wait_after(stack, "log-metrics-propagated", list(metrics.values()), METRIC_PROPAGATION)
    where = f" ({config.environment})" if config.environment else ""
    for stream in streams:
        for suffix, title, condition, runbook in _stream_policies(stream, names[stream.name]):
            result.policies.append(gcp.MonitoringAlertPolicy(
                stack, f"alert-{suffix}-{stream.name}",
                display_name=f"hookstream {stream.name}{where}: {title}",
                combiner="OR",
                notification_channels=channel_names,
                conditions=[condition],
                documentation=gcp.MonitoringAlertPolicyDocumentation(content=runbook, mime_type="text/markdown"),
                user_labels={STREAM_LABEL: stream.name},
                depends_on=[metrics_known] if suffix != "5xx" else None,
            ))
    return result


def log_metric(stack: Construct, metric: LogMetric) -> gcp.LoggingMetric:
    distribution = metric.value_field is not None
    return gcp.LoggingMetric(
        stack, f"log-metric-{metric.key}",
        name=metric.name,
        description=metric.description,
        filter=metric.filter,
        metric_descriptor=gcp.LoggingMetricMetricDescriptor(
            metric_kind="DELTA",
            value_type="DISTRIBUTION" if distribution else "INT64",
            unit=metric.unit,
            display_name=f"hookstream: {metric.title}",
            labels=[gcp.LoggingMetricMetricDescriptorLabels(key=label, value_type="STRING")
                    for label, _ in metric.labels],
        ),
        label_extractors=metric.label_extractors,
        value_extractor=metric.value_extractor,
        bucket_options=gcp.LoggingMetricBucketOptions(exponential_buckets=gcp.LoggingMetricBucketOptionsExponentialBuckets(
            num_finite_buckets=32, growth_factor=metric.buckets[1], scale=metric.buckets[0])) if distribution else None,
    )


def per_stream(metric: LogMetric, stream: Stream, extra: str = "") -> str:
    return (f'metric.type = "{metric.metric_type}" AND resource.type = "{metric.resource_type}"'
            f' AND metric.labels.stream = "{stream.name}"{extra}')


def _summed(aligner: str = "ALIGN_SUM", period: str = WINDOW) -> list[
        gcp.MonitoringAlertPolicyConditionsConditionThresholdAggregations]:
    return [gcp.MonitoringAlertPolicyConditionsConditionThresholdAggregations(
        alignment_period=period, per_series_aligner=aligner, cross_series_reducer="REDUCE_SUM",
        group_by_fields=["metric.label.stream"])]


def _absent_for(display_name: str, filter: str, seconds: int,
                alignment_period: str) -> gcp.MonitoringAlertPolicyConditions:
    """Fires when a per-stream count, summed over revisions, has had no data for `seconds`."""
    return gcp.MonitoringAlertPolicyConditions(
        display_name=display_name,
        condition_absent=gcp.MonitoringAlertPolicyConditionsConditionAbsent(
            filter=filter, duration=f"{seconds}s",
            aggregations=[gcp.MonitoringAlertPolicyConditionsConditionAbsentAggregations(
                alignment_period=alignment_period, per_series_aligner="ALIGN_SUM", cross_series_reducer="REDUCE_SUM",
                group_by_fields=["metric.label.stream"])]))


def any_in_window(display_name: str, filter: str) -> gcp.MonitoringAlertPolicyConditions:
    """Fires when a per-stream count summed over revisions is above zero in the 5-minute window."""
    return gcp.MonitoringAlertPolicyConditions(
        display_name=display_name,
        condition_threshold=gcp.MonitoringAlertPolicyConditionsConditionThreshold(
            filter=filter, comparison="COMPARISON_GT", threshold_value=0, duration="0s", aggregations=_summed()))


def _stream_policies(stream: Stream, names: StreamNames) -> list[tuple[str, str, gcp.MonitoringAlertPolicyConditions,
                                                                       str]]:
    policies = [
        ("5xx", "endpoint answers 5xx", gcp.MonitoringAlertPolicyConditions(
            display_name="5xx answers in 5 minutes",
            condition_threshold=gcp.MonitoringAlertPolicyConditionsConditionThreshold(
                filter=('resource.type = "cloud_run_revision" AND metric.type = "run.googleapis.com/request_count"'
                        f' AND resource.labels.service_name = "{names.cloud_run_service}"'
                        ' AND metric.labels.response_code_class = "5xx"'),
                comparison="COMPARISON_GT", threshold_value=0, duration="0s",
                aggregations=[gcp.MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                    alignment_period=WINDOW, per_series_aligner="ALIGN_SUM")],
            )),
         f"The endpoint of stream {stream.name} answered 5xx: its writes to BigQuery are failing or it "
         "crashed. The CRM's retries are all that stands between these hits and loss: check the service's "
         "logs (`hit not stored`, `bigquery write failed`)."),
        ("not-stored", "hits not stored", any_in_window("a hit not stored in 5 minutes",
                                                         per_stream(NOT_STORED, stream)),
         f"Stream {stream.name} answered 503 to at least one hit: neither BigQuery nor the spool took the "
         f"row (`hit not stored` lines give the error). Rows of {stream.table_ref} are missing unless the CRM "
         "retries: check the spool bucket and the service account's grants on it (docs/spool.md)."),
        ("spooled", "hits spooled", any_in_window("a hit spooled in 5 minutes", per_stream(SPOOLED, stream)),
         f"Stream {stream.name} could not write to BigQuery and spooled hits to Cloud Storage (answered 2xx, "
         f"nothing lost): its writes to {stream.table_ref} are failing (`hit spooled` lines give the error). "
         f"The replay job `hookstream-replay-{stream.name}` writes them once BigQuery takes rows again; "
         "`scripts/status --cloud` shows how many wait and the oldest one's age (docs/spool.md)."),
        ("unauthorized", "burst of 401s", gcp.MonitoringAlertPolicyConditions(
            display_name=f"more than {UNAUTHORIZED_BURST} hits refused with 401 in 5 minutes",
            condition_threshold=gcp.MonitoringAlertPolicyConditionsConditionThreshold(
                filter=per_stream(REFUSED, stream, ' AND metric.labels.status = "401"'),
                comparison="COMPARISON_GT", threshold_value=UNAUTHORIZED_BURST, duration="0s",
                aggregations=_summed())),
         f"Stream {stream.name} refused many hits with 401: the CRM sends a secret the endpoint does not "
         "accept (a rotation not finished in the CRM? `scripts/rotate-secret`), or someone is probing it. "
         "The refused hits are not stored."),
    ]
    policies += _replay_policies(stream)
    if stream.alert_if_silent_for is not None:
        seconds = int(stream.alert_if_silent_for.total_seconds())
        policies.append(("silent", f"no hit stored for {_duration(seconds)}", _absent_for(
            f"no hit stored for {_duration(seconds)}", per_stream(STORED, stream), seconds, "60s"),
            f"Stream {stream.name} stored no hit for {_duration(seconds)} (alert_if_silent_for): the CRM or "
            "its webhook may have stopped, or every call is refused (see the hits-refused metric). The "
            "condition only arms after the first hit stored since the policy was created or changed."))
    return policies


def _replay_policies(stream: Stream) -> list[tuple[str, str, gcp.MonitoringAlertPolicyConditions, str]]:
    """Nothing in the spool expires unseen: the alerts fire hours before the 30-day lifecycle deletion."""
    job = replay_job_name(stream.name)
    failed = " OR ".join(f'"{status}"' for status in REPLAY_FAILED_STATUSES)
    age = _duration(SPOOL_AGE_ALERT_SECONDS)
    return [
        ("replay-failed", "replay run failed", any_in_window(
            "a replay run ended with objects it could not replay",
            per_stream(REPLAY_RUNS, stream, f" AND metric.labels.status = one_of({failed})")),
         f"The replay job `{job}` ended a run without replaying what waits in the spool of stream "
         f"{stream.name} (status in its `replay finished` line: BigQuery or Cloud Storage unavailable, lease "
         "lost, or out of time). The next run, 5 minutes later, tries again; spooled hits are deleted 30 days "
         "after they were written (docs/spool.md)."),
        ("replay-silent", "replay not running", _absent_for(
            f"no replay run finished for {_duration(REPLAY_SILENT_SECONDS)}", per_stream(REPLAY_RUNS, stream),
            REPLAY_SILENT_SECONDS, WINDOW),
         f"No run of `{job}` logged `replay finished` for {_duration(REPLAY_SILENT_SECONDS)} (it is scheduled "
         "every 5 minutes): the job crashes before its end, or Cloud Scheduler cannot start it. Check the "
         "job's executions and the scheduler job of the same name."),
        ("spool-age", f"spooled hit older than {age}", gcp.MonitoringAlertPolicyConditions(
            display_name=f"oldest spooled hit older than {age}",
            condition_threshold=gcp.MonitoringAlertPolicyConditionsConditionThreshold(
                filter=per_stream(SPOOL_AGE, stream), comparison="COMPARISON_GT",
                threshold_value=SPOOL_AGE_ALERT_SECONDS, duration="0s",
                aggregations=[gcp.MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                    alignment_period=WINDOW, per_series_aligner="ALIGN_PERCENTILE_99",
                    cross_series_reducer="REDUCE_MAX", group_by_fields=["metric.label.stream"])])),
         f"A hit of stream {stream.name} has waited in the spool for more than {age}: the replay cannot write "
         f"it to {stream.table_ref}. Spooled hits are deleted 30 days after they were written, and stay "
         "recoverable 7 days more (soft delete): docs/spool.md, \"Timeline\"."),
        ("quarantined", "spool object quarantined", any_in_window("a spool object quarantined in 5 minutes",
                                                                   per_stream(QUARANTINED, stream)),
         f"The replay of stream {stream.name} moved a spooled object it cannot read or validate to the "
         "quarantine prefix (its `spool object quarantined` line names the object and the error). It is not "
         "in the table: docs/spool.md says how to inspect and re-drive it; it is deleted after 30 days."),
    ]


def _duration(seconds: int) -> str:
    hours, minutes = divmod(seconds // 60, 60)
    return " ".join(part for part in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if part)


def _chart(title: str, filter: str, aligner: str, reducer: str, group_by: list[str],
           percentiles: tuple[str, ...] = ()) -> dict[str, Any]:
    reducers = percentiles or (reducer,)
    return {"title": title, "xyChart": {"dataSets": [{
        "timeSeriesQuery": {"timeSeriesFilter": {"filter": filter, "aggregation": {
            "alignmentPeriod": "60s", "perSeriesAligner": aligner, "crossSeriesReducer": each,
            "groupByFields": group_by}}},
        "plotType": "LINE", "legendTemplate": f"{each.removeprefix('REDUCE_')} ${{metric.labels.stream}}"
        if percentiles else ""} for each in reducers]}}


def dashboard_json(config: DeployConfig) -> dict[str, Any]:
    """One dashboard for all streams of the deployment."""
    def user(metric: LogMetric) -> str:
        return f'metric.type = "{metric.metric_type}" AND resource.type = "cloud_run_revision"'

    by_stream = ["metric.label.stream"]
    charts = [
        _chart("Received (requests per second, by service)",
               'metric.type = "run.googleapis.com/request_count" AND resource.type = "cloud_run_revision"'
               f' AND resource.label.service_name = starts_with("{SERVICE_PREFIX}")',
               "ALIGN_RATE", "REDUCE_SUM", ["resource.label.service_name"]),
        _chart("Stored (hits per second, by stream)", user(STORED), "ALIGN_RATE", "REDUCE_SUM", by_stream),
        _chart("Refused (hits per second, by stream and reason)", user(REFUSED), "ALIGN_RATE", "REDUCE_SUM",
               [*by_stream, "metric.label.reason"]),
        _chart("Not stored (hits per second, by stream)", user(NOT_STORED), "ALIGN_RATE", "REDUCE_SUM", by_stream),
        _chart("Spooled (hits per second, by stream)", user(SPOOLED), "ALIGN_RATE", "REDUCE_SUM", by_stream),
        _chart("Latency, received to stored (ms)", user(LATENCY), "ALIGN_DELTA", "", by_stream,
               percentiles=("REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_99")),
    ]
    width, height = 24, 16
    tiles = [{"xPos": (index % 2) * width, "yPos": (index // 2) * height, "width": width, "height": height,
              "widget": chart} for index, chart in enumerate(charts)]
    where = f" ({config.environment})" if config.environment else ""
    layout: dict[str, Any] = _without_defaults(
        {"displayName": f"hookstream{where}", "mosaicLayout": {"columns": 48, "tiles": tiles}})
    return layout


def _without_defaults(value: Any) -> Any:
    """The dashboard as the API returns it: proto3 drops zeros and empty strings or lists (xPos 0, an empty
    legend), and the provider compares its JSON key by key, so each one left in would be a change on
    every plan."""
    if isinstance(value, dict):
        kept = {key: _without_defaults(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (0, "", [], {}, None) or item is True}
    if isinstance(value, list):
        return [_without_defaults(item) for item in value]
    return value
