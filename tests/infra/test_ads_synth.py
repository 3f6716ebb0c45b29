"""The Google Ads upload in the cdktf stack: ledger, view grants, the job's own identity, job, schedule, and the
Data Manager API; nothing of it for streams without `ads` (the shipped ones)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from infra.streams import STREAMS
from service.ads.config import ADS_UPLOAD_ENV
from service.model.ads import AdsConsent, GoogleAdsConversions
from service.model.stitch import GA4Export
from tests.infra.helpers import CONFIG, Synth, synthesize

pytestmark = pytest.mark.synth
STACK = "hookstream"
CRM_ORDERS = next(stream for stream in STREAMS if stream.name == "crm-orders")
WITH_ADS = dataclasses.replace(CRM_ORDERS, stitch=GA4Export(dataset="analytics_987"), ads=GoogleAdsConversions(
    operating_account="1234567890", conversion_destination="555", login_account="9876543210",
    consent=AdsConsent(ad_user_data="granted", ad_personalization="denied")))


@pytest.fixture(scope="module")
def with_ads() -> Synth:
    return synthesize((WITH_ADS,))


def of_type(synth: Synth, resource_type: str) -> dict[str, dict[str, object]]:
    return {path: body for path, body in synth.resources(STACK, resource_type).items()}


def test_the_job_runs_the_upload_as_its_own_account_with_the_stream_s_settings(with_ads: Synth) -> None:
    jobs = {body["name"]: body for body in of_type(with_ads, "google_cloud_run_v2_job").values()}
    job = jobs["hookstream-ads-crm-orders"]
    container = job["template"]["template"]["containers"][0]  # type: ignore[index]
    assert container["command"] == ["python", "-m", "service.ads"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert json.loads(env[ADS_UPLOAD_ENV]) == {
        "stream": "crm-orders", "project": CONFIG.project, "dataset": "crm", "view": "orders_ads_conversions",
        "ledger": "orders_ads_uploads", "operating_account": "1234567890", "login_account": "9876543210",
        "conversion_destination": "555", "import_window_days": 90}
    assert not any("token" in key.lower() or "secret" in key.lower() for key in env)  # no credentials in env
    sa = next(body for body in of_type(with_ads, "google_service_account").values()
              if body["account_id"] == "gads-crm-orders")
    assert "${google_service_account." in job["template"]["template"]["service_account"]  # type: ignore[index]
    assert sa["display_name"] == "hookstream Google Ads upload crm-orders"
    schedules = {body["name"]: body for body in of_type(with_ads, "google_cloud_scheduler_job").values()}
    schedule = schedules["hookstream-ads-crm-orders"]
    assert schedule["schedule"] == "17 * * * *"
    assert schedule["http_target"]["uri"].endswith("/jobs/hookstream-ads-crm-orders:run")  # type: ignore[index]


def test_the_account_reads_the_view_and_the_ledger_and_nothing_else(with_ads: Synth) -> None:
    account = "google_service_account.crm-orders_crm-orders-ads-sa_"

    def by_account(resource_type: str, key: str) -> list[dict[str, object]]:
        return [body for body in of_type(with_ads, resource_type).values() if account in str(body.get(key))]

    assert sorted((str(body["table_id"]).split("crm-orders_crm-orders-")[1].split("_")[0], str(body["role"]))
                  for body in by_account("google_bigquery_table_iam_member", "member")) == [
        ("ads-ledger", "${google_project_iam_custom_role.replay-table-role.name}"),
        ("ga4", "${google_project_iam_custom_role.ads-view-role.name}")]  # ga4/<...>-ads-conversions-view
    assert next(str(body["table_id"]) for body in by_account("google_bigquery_table_iam_member", "member")
                if "ads-view-role" in str(body["role"])).startswith(
        "${google_bigquery_table.crm-orders_crm-orders-ga4_crm-orders-ads-conversions-view_")
    assert [body["role"] for body in by_account("google_bigquery_dataset_access", "user_by_email")] == [
        "${google_project_iam_custom_role.dataset-reader-role.name}"]
    assert [body["role"] for body in by_account("google_project_iam_member", "member")] == ["roles/bigquery.jobUser"]
    assert by_account("google_storage_bucket_iam_member", "member") == []
    roles = {body["role_id"]: sorted(str(p) for p in body["permissions"])  # type: ignore[attr-defined]
             for body in of_type(with_ads, "google_project_iam_custom_role").values()}
    assert roles[CONFIG.role_id("AdsView")] == ["bigquery.tables.getData"]
    assert roles[CONFIG.role_id("Replay")] == [
        "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.updateData"]
    tables = {body["table_id"]: body for body in of_type(with_ads, "google_bigquery_table").values()}
    ledger = tables["orders_ads_uploads"]
    assert ledger["deletion_protection"] is True
    assert [column["name"] for column in json.loads(str(ledger["schema"]))] == [
        "transaction_id", "kind", "value_sent", "currency", "request_id", "status", "diagnostics", "recorded_at",
        "run_id"]
    # The view is authorized on its own dataset and on the GA4 export: nothing under it is granted to anyone.
    authorized = sorted(str(body["dataset_id"]).split(".")[-1] for body in
                        of_type(with_ads, "google_bigquery_dataset_access").values()
                        if "ads-conversions-view" in json.dumps(body.get("view")))
    assert authorized == ["analytics_987", "dataset_id}"]  # the stream's dataset, by reference


def test_the_data_manager_api_is_enabled_only_when_a_stream_sends_to_google_ads(with_ads: Synth,
                                                                              shipped: Synth) -> None:
    def apis(synth: Synth) -> set[str]:
        return {str(body["service"]) for body in synth.resources(STACK, "google_project_service").values()}

    assert "datamanager.googleapis.com" in apis(with_ads)
    assert "datamanager.googleapis.com" not in apis(shipped)
    assert not [body for body in shipped.resources(STACK, "google_cloud_run_v2_job").values()
                if str(body["name"]).startswith("hookstream-ads-")]


def test_failed_uploads_alert_the_environment_s_addresses() -> None:
    alerted = synthesize((WITH_ADS,), dataclasses.replace(CONFIG, alert_emails=("ops@example.com",)))
    metrics = {body["name"]: body for body in alerted.resources(STACK, "google_logging_metric").values()}
    assert metrics["hookstream/ads-upload-failed"]["filter"] == (
        'resource.type = "cloud_run_job" AND jsonPayload.logger = "hookstream.ads" AND '
        'jsonPayload.message = "ads upload failed"')
    policies = {body["display_name"]: body
                for body in alerted.resources(STACK, "google_monitoring_alert_policy").values()}
    policy = policies["hookstream crm-orders: Google Ads upload failed"]
    condition = policy["conditions"][0]["condition_threshold"]
    assert condition["filter"] == ('metric.type = "logging.googleapis.com/user/hookstream/ads-upload-failed" AND '
                                   'resource.type = "cloud_run_job" AND metric.labels.stream = "crm-orders"')
    assert policy["notification_channels"]


def test_a_declared_developer_token_reaches_the_job_from_its_one_secret_and_enables_the_google_ads_api(
        with_ads: Synth) -> None:
    assert WITH_ADS.ads is not None
    token = synthesize((dataclasses.replace(WITH_ADS, ads=dataclasses.replace(
        WITH_ADS.ads, developer_token_secret="google-ads-developer-token")),))
    job = next(body for body in of_type(token, "google_cloud_run_v2_job").values()
               if body["name"] == "hookstream-ads-crm-orders")
    container = job["template"]["template"]["containers"][0]  # type: ignore[index]
    from_secret = [item for item in container["env"] if "value_source" in item]
    assert from_secret == [{"name": "HOOKSTREAM_GOOGLE_ADS_DEVELOPER_TOKEN", "value_source": {
        "secret_key_ref": {"secret": "google-ads-developer-token", "version": "latest"}}}]
    readers = list(of_type(token, "google_secret_manager_secret_iam_member").values())
    ads_readers = [body for body in readers if "crm-orders-ads-sa" in str(body["member"])]
    assert [(body["secret_id"], body["role"], body["project"]) for body in ads_readers] == [
        ("google-ads-developer-token", "roles/secretmanager.secretAccessor", CONFIG.project)]
    assert [body for body in readers if body["secret_id"] == "google-ads-developer-token"] == ads_readers

    def apis(synth: Synth) -> set[str]:
        return {str(body["service"]) for body in synth.resources(STACK, "google_project_service").values()}

    assert {"datamanager.googleapis.com", "googleads.googleapis.com"} <= apis(token)
    assert "googleads.googleapis.com" not in apis(with_ads)  # no token: no retraction is sent, no API to enable
    assert not of_type(with_ads, "google_secret_manager_secret_iam_member") or not [
        body for body in of_type(with_ads, "google_secret_manager_secret_iam_member").values()
        if "crm-orders-ads-sa" in str(body["member"])]


def test_synth_warns_when_refunds_cannot_be_retracted() -> None:
    from infra.app import ads_warnings

    assert WITH_ADS.ads is not None
    assert ads_warnings((WITH_ADS,)) == [
        "stream 'crm-orders' declares ads without developer_token_secret: refunds, cancellations and chargebacks "
        "are not retracted in Google Ads (bidding keeps counting them); they wait in the ledger and are sent once "
        "a developer token is declared (docs/ads.md, \"Which API does what\")"]
    assert ads_warnings((dataclasses.replace(WITH_ADS, ads=dataclasses.replace(
        WITH_ADS.ads, developer_token_secret="t")),)) == []
    assert ads_warnings(STREAMS) == []  # the shipped streams declare no ads
