"""A stream's Google Ads upload on Google Cloud: the ledger table, the job's own identity and grants, the
Cloud Run job and its Cloud Scheduler schedule (the replay's pattern, infra/spool_resources.py).

The identity reads `<table>_ads_conversions` and reads and appends to `<table>_ads_uploads`, nothing else:
the view is authorized on the stream's dataset, so the account needs no access to the latest and
attributed views or the raw table under it (nor to the GA4 export, on which the view is authorized too,
infra/attributed_views.py). Access to Google Ads itself is granted in Google Ads (docs/ads.md).
"""

from __future__ import annotations

import json

from constructs import Construct

from infra.config import DeployConfig
from infra.custom_roles import custom_role
from infra.engine import providers as gcp
from infra.engine.core import ITerraformDependable
from infra.limits import SERVICE_ACCOUNT_DESCRIPTION_BYTES, fit_bytes
from infra.log_metrics import ADS_UPLOAD_FAILED
from infra.observability import STREAM_LABEL, any_in_window, log_metric, per_stream
from infra.permissions import ADS_UPLOAD, Scope, role_permissions
from infra.propagation import IAM_PROPAGATION, METRIC_PROPAGATION, wait_after
from infra.scheduled_jobs import run_job, schedule_job
from infra.stream_resources import StreamResources
from infra.views.ads_conversions import ads_conversions_view_id, ads_uploads_table_id
from infra.views.stitched import ADS_VIEW_NAME
from service.ads.config import DEVELOPER_TOKEN_ENV, AdsUploadConfig
from service.ads.ledger_schema import ledger_schema
from service.model.stream import Stream

# Google Ads processes imported conversions within hours; hourly keeps bidding close to the CRM.
ADS_UPLOAD_SCHEDULE = "17 * * * *"
JOB_USER_ROLE = "roles/bigquery.jobUser"  # jobs.create exists only per project and reads no data by itself
DATAMANAGER_API = "datamanager.googleapis.com"
# Retractions (service/ads/retraction.py): called by the job, not by Terraform, so enabled as an extra.
GOOGLE_ADS_API = "googleads.googleapis.com"
SECRET_ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"


def ads_job_name(stream_name: str) -> str:
    return f"hookstream-ads-{stream_name}"


def ads_service_account_id(stream_name: str) -> str:
    # "gads-" + 1-20 characters: 6-25, within the 6-30 IAM allows for every valid stream name.
    return f"gads-{stream_name}"


def any_ads(streams: tuple[Stream, ...]) -> bool:
    return any(stream.ads is not None for stream in streams)


def ads_apis(streams: tuple[Stream, ...]) -> tuple[str, ...]:
    """The APIs the upload jobs call: Data Manager for any ads stream, the Google Ads API once one declares
    a developer token (without one no retraction is sent)."""
    if not any_ads(streams):
        return ()
    tokens = any(stream.ads is not None and stream.ads.developer_token_secret for stream in streams)
    return (DATAMANAGER_API, GOOGLE_ADS_API) if tokens else (DATAMANAGER_API,)


class AdsUploads:
    """The deployment-level role (reading a view) and, per stream with `ads`, its upload resources inside the
    stream's construct. `ledger_role` is the replay's table role (read rows, insert rows: what the ledger
    needs, nothing more)."""

    def __init__(self, scope: Construct, config: DeployConfig, ledger_role: gcp.ProjectIamCustomRole,
                 dataset_reader_role: gcp.ProjectIamCustomRole) -> None:
        self.config, self.ledger_role, self.dataset_reader_role = config, ledger_role, dataset_reader_role
        # Queried only: getData, no updateData (a view takes no rows) and no metadata change.
        self.view_role = custom_role(
            scope, "ads-view-role", config, "AdsView", title="hookstream Google Ads view reader",
            description="Query the <table>_ads_conversions view. Granted on that view to each stream's Google "
                        "Ads upload account.",
            permissions=[p for p in role_permissions(ADS_UPLOAD, Scope.TABLE) if p == "bigquery.tables.getData"])

    def observe(self, scope: Construct, streams: tuple[Stream, ...],
                channels: list[gcp.MonitoringNotificationChannel]) -> list[gcp.MonitoringAlertPolicy]:
        """The failed-uploads metric, and per ads stream an alert on it to `channels` (none: no policy)."""
        metric = log_metric(scope, ADS_UPLOAD_FAILED)
        if not channels:
            return []
        known = wait_after(scope, "ads-log-metric-propagated", [metric], METRIC_PROPAGATION)
        where = f" ({self.config.environment})" if self.config.environment else ""
        return [gcp.MonitoringAlertPolicy(
            scope, f"alert-ads-upload-failed-{stream.name}",
            display_name=f"hookstream {stream.name}{where}: Google Ads upload failed",
            combiner="OR",
            notification_channels=[channel.name for channel in channels],
            conditions=[any_in_window("an upload run with failed events", per_stream(ADS_UPLOAD_FAILED, stream))],
            documentation=gcp.MonitoringAlertPolicyDocumentation(mime_type="text/markdown", content=(
                f"The Google Ads upload `{ads_job_name(stream.name)}` of stream {stream.name} ended with events "
                "Data Manager refused or throttled (its `ads upload failed` line counts them; the ledger "
                f"`{ads_uploads_table_id(stream)}` has their `not_sent` rows with the error). The next hourly "
                "run sends them again; a lasting failure is usually access (docs/ads.md, \"Access\").")),
            user_labels={STREAM_LABEL: stream.name},
            depends_on=[known],
        ) for stream in streams if stream.ads is not None]

    def add_stream(self, resources: StreamResources) -> None:
        stream = resources.stream
        views = resources.attributed_views
        if stream.ads is None or views is None:
            return
        name = stream.name
        view = views.by_name[ADS_VIEW_NAME]
        ledger = gcp.BigqueryTable(
            resources, f"{name}-ads-ledger",
            dataset_id=resources.table.dataset_id,
            table_id=ads_uploads_table_id(stream),
            description=f"What hookstream sent to Google Ads for {stream.table_ref}, one row per attempt (docs/ads.md)",
            schema=json.dumps(ledger_schema()),
            # The record of what Google Ads was told: losing it would send every conversion again.
            deletion_protection=True,
            labels=resources.labels,
        )
        # The view reads the latest and attributed views and the raw table of its own dataset as an
        # authorized view: the upload account is granted the view alone.
        gcp.BigqueryDatasetAccess(
            resources, f"{name}-ads-view-dataset-access",
            dataset_id=resources.table.dataset_id,
            view=gcp.BigqueryDatasetAccessView(project_id=self.config.project, dataset_id=view.dataset_id,
                                               table_id=view.table_id),
        )
        account = gcp.ServiceAccount(
            resources, f"{name}-ads-sa",
            account_id=ads_service_account_id(name),
            display_name=f"hookstream Google Ads upload {name}"[:100],
            description=fit_bytes(f"Runs the hookstream Google Ads upload of stream {name}: reads "
                                  f"{ads_conversions_view_id(stream)}, records in {ads_uploads_table_id(stream)}; "
                                  "Cloud Scheduler starts the job as this account.", SERVICE_ACCOUNT_DESCRIPTION_BYTES),
        )
        grants = self._grants(resources, account, view, ledger)
        secret = stream.ads.developer_token_secret
        if secret:
            # That one secret only: the developer token for retractions through the Google Ads API.
            grants.append(gcp.SecretManagerSecretIamMember(
                resources, f"{name}-ads-developer-token-reader", project=self.config.project, secret_id=secret,
                role=SECRET_ACCESSOR_ROLE, member=account.member))
        job = self._job(resources, account, wait_after(resources, f"{name}-ads-grants-propagated", grants,
                                                       IAM_PROPAGATION), secret)
        self._schedule(resources, account, job)

    def _grants(self, resources: StreamResources, account: gcp.ServiceAccount, view: gcp.BigqueryTable,
                ledger: gcp.BigqueryTable) -> list[ITerraformDependable]:
        name, project = resources.stream.name, self.config.project
        return [
            gcp.BigqueryTableIamMember(resources, f"{name}-ads-view-reader", project=project,
                                       dataset_id=view.dataset_id, table_id=view.table_id,
                                       role=self.view_role.name, member=account.member),
            gcp.BigqueryTableIamMember(resources, f"{name}-ads-ledger-writer", project=project,
                                       dataset_id=ledger.dataset_id, table_id=ledger.table_id,
                                       role=self.ledger_role.name, member=account.member),
            gcp.BigqueryDatasetAccess(resources, f"{name}-ads-dataset-reader", dataset_id=resources.table.dataset_id,
                                      role=self.dataset_reader_role.name, user_by_email=account.email),
            gcp.ProjectIamMember(resources, f"{name}-ads-job-user", project=project, role=JOB_USER_ROLE,
                                 member=account.member),
        ]

    def _job(self, resources: StreamResources, account: gcp.ServiceAccount,
             grants_propagated: gcp.TimeSleep, developer_token_secret: str | None) -> gcp.CloudRunV2Job:
        stream = resources.stream
        assert stream.ads is not None
        env = AdsUploadConfig.of(stream.name, self.config.project, stream.dataset, stream.table, stream.ads).to_env()
        # The token reaches the job from Secret Manager at start, never through Terraform state or the plan.
        secrets = {DEVELOPER_TOKEN_ENV: developer_token_secret} if developer_token_secret else {}
        # A failed run is retried by the next scheduled one; what failed is not recorded as sent.
        return run_job(resources, f"{stream.name}-ads-job", self.config, ads_job_name(stream.name), account,
                       ["python", "-m", "service.ads"], env, resources.labels, grants_propagated, secrets)

    def _schedule(self, resources: StreamResources, account: gcp.ServiceAccount,
                  job: gcp.CloudRunV2Job) -> gcp.CloudSchedulerJob:
        name = resources.stream.name
        return schedule_job(resources, f"{name}-ads", self.config, job, ads_job_name(name), account,
                            ADS_UPLOAD_SCHEDULE, f"Sends the final orders of hookstream stream {name} to Google Ads")
