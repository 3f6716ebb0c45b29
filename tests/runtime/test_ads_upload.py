"""The Google Ads upload job end to end: CRM hits through gunicorn into the emulator, the synthetic GA4 export's
N5 purchase (after a gclid click, 200.00 USD on today-3), `python -m service.ads` (what the Cloud Run job runs)
against the local Data Manager stand-in, which Google's own client reaches over REST, and the local Google Ads
API stand-in (retractions), which the `google-ads` client reaches over gRPC. What the stand-ins received and
what the ledger holds are written out below."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from infra.log_metrics import ADS_UPLOAD_FAILED
from service.ads.config import (
    DATAMANAGER_ENDPOINT_ENV,
    DEVELOPER_TOKEN_ENV,
    GOOGLE_ADS_ENDPOINT_ENV,
    AdsUploadConfig,
)
from service.ads.plan import Conversion, Sent, plan_run
from service.model.service_env import BIGQUERY_EMULATOR_HOST
from service.model.stitch import GA4Export
from service.model.stream import Stream
from tests.conftest import Emulator
from tests.infra.test_ads_conversions_view import with_ads
from tests.infra.test_attributed_view import curl
from tests.logging_filter import extract, matches
from tests.runtime.test_replay_log_metric_filters import job_entry
from tools.local.datamanager_standin import serve
from tools.local.ga4_sample import load_sample
from tools.local.googleads_standin import GoogleAdsStandin
from tools.local.processes import REPO_ROOT, free_port

COUNTS = ("sent", "restated", "retracted", "unchanged", "outside_import_window", "failed")
# A made-up developer token: it must reach the Google Ads stand-in and appear in no output, ledger row or error.
TOKEN = "hs-test-devtoken-Zq8vT3"


class Standin:
    def __init__(self) -> None:
        self.port = free_port()
        self.server = serve(self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def _post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).read()

    def fail_next(self, status: int) -> None:
        self._post("/standin/fail", {"status": status, "times": 1})

    def reject(self, transaction_id: str) -> None:
        self._post("/standin/reject", {"transaction_id": transaction_id})

    def requests(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/standin/requests", timeout=10) as answer:
            records: list[dict[str, Any]] = json.load(answer)["requests"]
            return records

    def events(self) -> list[tuple[int, str, float, float | None, str | None]]:
        """(HTTP status, transaction id, value, count, gclid) of every event of every ingest request."""
        return [(request["status"], event["transactionId"], event["conversionValue"], event.get("conversionCount"),
                 event.get("adIdentifiers", {}).get("gclid"))
                for request in self.requests() for event in request["body"]["events"]]


@pytest.fixture
def standin() -> Iterator[Standin]:
    running = Standin()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture
def google_ads() -> Iterator[GoogleAdsStandin]:
    running = GoogleAdsStandin(free_port())
    yield running
    running.stop()


def retraction(order_id: str, at: str, status: str = "OK") -> dict[str, Any]:
    """What the Google Ads stand-in records of a one-retraction request."""
    return {"status": status, "developer_token_sent": True, "login_customer_id": None, "body": {
        "customerId": "1234567890", "partialFailure": True, "validateOnly": False, "conversionAdjustments": [{
            "adjustmentType": "RETRACTION", "conversionAction": "customers/1234567890/conversionActions/987654321",
            "orderId": order_id, "adjustmentDateTime": at, "userIdentifiers": []}]}}


def flow_stream(dataset: str, ga4_dataset: str) -> Stream:
    return dataclasses.replace(with_ads(email_field=None, phone_field=None, click_id_field=None), dataset=dataset,
                               stitch=GA4Export(dataset=ga4_dataset, refunded_field="refunded"))


OUTPUT: list[str] = []  # every run's stdout and stderr, to look for the developer token in


def upload(emulator: Emulator, stream: Stream, standin: Standin, *args: str, google_ads: GoogleAdsStandin | None = None,
           token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    assert stream.ads is not None
    config = AdsUploadConfig.of(stream.name, emulator.project, stream.dataset, stream.table, stream.ads)
    env = {key: value for key, value in os.environ.items() if key != DEVELOPER_TOKEN_ENV}
    env.update({**config.to_env(), BIGQUERY_EMULATOR_HOST: emulator.url, DATAMANAGER_ENDPOINT_ENV: standin.url})
    if google_ads is not None:  # else no retraction is expected, and no Google Ads client is made
        env[GOOGLE_ADS_ENDPOINT_ENV] = google_ads.address
        if token is not None:
            env[DEVELOPER_TOKEN_ENV] = token
    result = subprocess.run([sys.executable, "-m", "service.ads", *args], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    OUTPUT.append(result.stdout + result.stderr)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stderr[-3000:]
    print(lines[-1])  # pytest -s shows each run's summary
    return result.returncode, json.loads(lines[-1])


def assert_token_nowhere(emulator: Emulator, stream: Stream) -> None:
    rows = emulator.query(f"SELECT * FROM `{emulator.project}.{stream.dataset}.orders_ads_uploads`")
    assert rows and TOKEN not in json.dumps([dict(row) for row in rows], default=str)
    assert OUTPUT and not [output for output in OUTPUT if TOKEN in output]


def counts(summary: dict[str, Any]) -> tuple[int, ...]:
    return tuple(summary[name] for name in COUNTS)


def ledger(emulator: Emulator, stream: Stream) -> list[tuple[Any, ...]]:
    rows = emulator.query(f"SELECT * FROM `{emulator.project}.{stream.dataset}.orders_ads_uploads` "
                          "ORDER BY recorded_at, kind")
    return [(row["transaction_id"], row["kind"], row["status"], row["value_sent"]) for row in rows]


def days() -> dict[int, dt.date]:
    today = dt.datetime.now(ZoneInfo("Europe/Berlin")).date()
    return {ago: today - dt.timedelta(days=ago) for ago in range(5)}


def sample_stream(emulator: Emulator, start_stream_service: Any,
                  name: str) -> tuple[Stream, str, dict[int, dt.date]]:
    """An ads stream served by gunicorn (its endpoint URL) over its own GA4 sample export, loaded for today-4."""
    stream = flow_stream(f"ads_{name}_e2e", f"ga4_ads_{name}")
    service = start_stream_service(stream)
    day = days()
    load_sample(emulator.client, emulator.project, f"ga4_ads_{name}", day[0])
    return stream, f"{service.hooks_url}/{service.secrets[0]}", day


@pytest.mark.integration
def test_paid_partially_refunded_refunded_is_one_conversion_one_restatement_one_retraction(
        emulator: Emulator, start_stream_service: Any, standin: Standin, google_ads: GoogleAdsStandin) -> None:
    stream, url, day = sample_stream(emulator, start_stream_service, "flow")
    OUTPUT.clear()

    def run() -> tuple[int, ...]:
        code, summary = upload(emulator, stream, standin, google_ads=google_ads)
        assert (code, summary["retraction_needs_developer_token"]) == (0, 0)
        return counts(summary)

    # The web purchase alone is not final: nothing to send.
    assert run() == (0, 0, 0, 0, 0, 0)
    curl(url, f"orderId=N5&status=paid&total=200.00&currency=USD&createdAt={day[3]}T11:00:00Z"
              f"&updatedAt={day[3]}T12:30:00Z")
    assert run() == (1, 0, 0, 0, 0, 0)
    curl(url, f"orderId=N5&status=partially+refunded&refunded=50.00&updatedAt={day[2]}T09:00:00Z")
    code, second = upload(emulator, stream, standin, google_ads=google_ads)
    assert (code, counts(second), second["diagnostics_fetched"]) == (0, (0, 1, 0, 0, 0, 0), 1)
    curl(url, f"orderId=N5&status=refunded&refunded=200.00&updatedAt={day[1]}T09:00:00Z")
    assert run() == (0, 0, 1, 0, 0, 0)
    assert run() == (0, 0, 0, 1, 0, 0)  # the fifth run sends nothing, to either API

    # Data Manager got the conversion and the restatement, and no retraction.
    assert standin.events() == [
        (200, "N5", 200.0, None, "EAIaIQ-sample-gclid-N5"),
        (200, "N5", 150.0, None, "EAIaIQ-sample-gclid-N5"),
    ]
    # The restatement is newer than the conversion (Google ignores a restatement that is not).
    stamps = [request["body"]["events"][0]["lastUpdatedTimestamp"] for request in standin.requests()]
    assert stamps == [f"{day[3]}T12:30:00Z", f"{day[2]}T09:00:00Z"]
    # The Google Ads API got the retraction: by order id, for the declared conversion action, at the refund's time.
    assert google_ads.state.recorded() == [retraction("N5", f"{day[1]} 09:00:00+00:00")]
    sent = [row for row in ledger(emulator, stream) if row[2] == "sent"]
    assert sent == [("N5", "conversion", "sent", Decimal("200.00")), ("N5", "restatement", "sent", Decimal("150.00")),
                    ("N5", "retraction", "sent", Decimal("0"))]
    # Each Data Manager request's status fetched by the next run; the retraction's answer was final at once.
    statuses = [(row[1], row[2]) for row in ledger(emulator, stream) if row[2] not in ("sent", "not_sent")]
    assert statuses == [("conversion", "SUCCESS"), ("restatement", "SUCCESS")]
    assert_token_nowhere(emulator, stream)


@pytest.mark.integration
@pytest.mark.parametrize("refusal", [429, 500])
def test_a_throttled_or_failed_request_is_sent_again_next_run_once(
        emulator: Emulator, start_stream_service: Any, standin: Standin, refusal: int) -> None:
    stream, url, day = sample_stream(emulator, start_stream_service, f"retry_{refusal}")
    curl(url, f"orderId=N5&status=paid&total=200.00&currency=USD&createdAt={day[3]}T11:00:00Z")

    standin.fail_next(refusal)
    code, refused = upload(emulator, stream, standin)
    # The fault happened: the stand-in answered the one request with the refusal, and the run says so.
    assert (code, counts(refused)) == (1, (0, 0, 0, 0, 0, 1))
    assert [event[:3] for event in standin.events()] == [(refusal, "N5", 200.0)]
    assert ledger(emulator, stream) == [("N5", "conversion", "not_sent", Decimal("200.00"))]
    # The run's log line is what the failed-uploads alert counts (infra/log_metrics.py).
    assert matches(ADS_UPLOAD_FAILED.filter, job_entry(refused, "hookstream-ads-crm-orders"))
    assert extract(ADS_UPLOAD_FAILED.label_extractors["stream"], job_entry(refused)) == "crm-orders"

    code, again = upload(emulator, stream, standin)
    assert (code, counts(again)) == (0, (1, 0, 0, 0, 0, 0))
    assert not matches(ADS_UPLOAD_FAILED.filter, job_entry(again))
    assert counts(upload(emulator, stream, standin)[1]) == (0, 0, 0, 1, 0, 0)
    assert [event[:3] for event in standin.events()] == [(refusal, "N5", 200.0), (200, "N5", 200.0)]
    assert [row for row in ledger(emulator, stream) if row[2] == "sent"] == [
        ("N5", "conversion", "sent", Decimal("200.00"))]


def paid_then_refunded(emulator: Emulator, start_stream_service: Any, standin: Standin, name: str,
                       orders: tuple[str, ...] = ("N5",)) -> tuple[Stream, dict[int, dt.date]]:
    """Orders paid (from the sample's gclid purchases), uploaded as conversions, then refunded on today-1."""
    stream, url, day = sample_stream(emulator, start_stream_service, name)
    totals = {"N1": "125.13", "N5": "200.00"}
    for order in orders:
        curl(url, f"orderId={order}&status=paid&total={totals[order]}&currency=USD&createdAt={day[3]}T11:00:00Z")
    assert counts(upload(emulator, stream, standin)[1]) == (len(orders), 0, 0, 0, 0, 0)
    for order in orders:
        curl(url, f"orderId={order}&status=refunded&refunded={totals[order]}&updatedAt={day[1]}T09:00:00Z")
    return stream, day


@pytest.mark.integration
@pytest.mark.parametrize(("code", "http", "error"), [("RESOURCE_EXHAUSTED", 429, "ResourceExhausted"),
                                                     ("UNAVAILABLE", 503, "ServiceUnavailable")])
def test_a_throttled_retraction_is_sent_again_next_run_once(
        emulator: Emulator, start_stream_service: Any, standin: Standin, google_ads: GoogleAdsStandin,
        code: str, http: int, error: str) -> None:
    stream, day = paid_then_refunded(emulator, start_stream_service, standin, f"throttle_{http}")
    OUTPUT.clear()
    google_ads.state.fail_next(code)
    exit_code, throttled = upload(emulator, stream, standin, google_ads=google_ads)
    assert (exit_code, counts(throttled)) == (1, (0, 0, 0, 0, 0, 1))
    rows = emulator.query(f"SELECT kind, status, diagnostics FROM `{emulator.project}.{stream.dataset}."
                          "orders_ads_uploads` WHERE kind = 'retraction'")
    assert [(row["kind"], row["status"], json.loads(row["diagnostics"])) for row in rows] == [
        ("retraction", "not_sent", {"api": "google_ads", "code": http, "error": error,
                                    "message": f"stand-in told to answer {code}"})]
    assert counts(upload(emulator, stream, standin, google_ads=google_ads)[1]) == (0, 0, 1, 0, 0, 0)
    assert counts(upload(emulator, stream, standin, google_ads=google_ads)[1]) == (0, 0, 0, 1, 0, 0)
    at = f"{day[1]} 09:00:00+00:00"
    assert google_ads.state.recorded() == [retraction("N5", at, code), retraction("N5", at)]
    assert [event[:3] for event in standin.events()] == [(200, "N5", 200.0)]  # the conversion, nothing more
    assert [row for row in ledger(emulator, stream) if row[2] == "sent"] == [
        ("N5", "conversion", "sent", Decimal("200.00")), ("N5", "retraction", "sent", Decimal("0"))]
    assert_token_nowhere(emulator, stream)


@pytest.mark.integration
def test_a_refused_retraction_is_recorded_for_its_order_and_the_others_are_retracted(
        emulator: Emulator, start_stream_service: Any, standin: Standin, google_ads: GoogleAdsStandin) -> None:
    stream, _ = paid_then_refunded(emulator, start_stream_service, standin, "partial", ("N1", "N5"))
    google_ads.state.reject("N5")
    exit_code, partial = upload(emulator, stream, standin, google_ads=google_ads)
    assert (exit_code, counts(partial)) == (1, (0, 0, 1, 0, 0, 1))
    [request] = google_ads.state.recorded()
    assert [a["orderId"] for a in request["body"]["conversionAdjustments"]] == ["N1", "N5"]  # one request
    rows = emulator.query(f"SELECT transaction_id, status, diagnostics FROM `{emulator.project}.{stream.dataset}."
                          "orders_ads_uploads` WHERE kind = 'retraction' ORDER BY transaction_id")
    assert [(row["transaction_id"], row["status"]) for row in rows] == [("N1", "sent"), ("N5", "not_sent")]
    assert json.loads(rows[0]["diagnostics"]) == {"api": "google_ads", "job_id": 1}
    assert json.loads(rows[1]["diagnostics"]) == [{
        "error_code": {"conversion_adjustment_upload_error": "CONVERSION_NOT_FOUND"},
        "message": "The conversion for this conversion action and conversion identifier can't be found."}]


@pytest.mark.integration
def test_without_a_developer_token_retractions_wait_and_go_once_one_is_configured(
        emulator: Emulator, start_stream_service: Any, standin: Standin, google_ads: GoogleAdsStandin) -> None:
    stream, day = paid_then_refunded(emulator, start_stream_service, standin, "no_token")
    for _ in range(2):
        exit_code, waiting = upload(emulator, stream, standin, google_ads=google_ads, token=None)
        assert (exit_code, counts(waiting), waiting["retraction_needs_developer_token"], waiting["severity"]) == (
            0, (0, 0, 0, 0, 0, 0), 1, "WARNING")
    assert google_ads.state.recorded() == []
    assert [event[:3] for event in standin.events()] == [(200, "N5", 200.0)]
    assert [row[1] for row in ledger(emulator, stream)] == ["conversion", "conversion"]  # sent, SUCCESS: no retraction
    exit_code, configured = upload(emulator, stream, standin, google_ads=google_ads)
    assert (exit_code, counts(configured), configured["retraction_needs_developer_token"]) == (
        0, (0, 0, 1, 0, 0, 0), 0)
    assert google_ads.state.recorded() == [retraction("N5", f"{day[1]} 09:00:00+00:00")]


@pytest.mark.integration
def test_a_refused_event_is_reported_in_the_ledger_from_the_request_status(
        emulator: Emulator, start_stream_service: Any, standin: Standin) -> None:
    stream, url, day = sample_stream(emulator, start_stream_service, "rejected")
    curl(url, f"orderId=N5&status=paid&total=200.00&currency=USD&createdAt={day[3]}T11:00:00Z")
    standin.reject("N5")
    assert counts(upload(emulator, stream, standin)[1]) == (1, 0, 0, 0, 0, 0)  # accepted, checked later
    code, later = upload(emulator, stream, standin)
    assert (code, later["diagnostics_fetched"], counts(later)) == (0, 1, (0, 0, 0, 1, 0, 0))
    rows = emulator.query(f"SELECT status, diagnostics FROM `{emulator.project}.{stream.dataset}.orders_ads_uploads` "
                          "WHERE status NOT IN ('sent', 'not_sent')")
    assert [row["status"] for row in rows] == ["FAILED"]
    assert json.loads(rows[0]["diagnostics"]) == [{
        "requestStatus": "FAILED", "eventsIngestionStatus": {"recordCount": "1"},
        "errorInfo": {"errorCounts": [{"recordCount": "1", "reason": "PROCESSING_ERROR_REASON_INVALID_GCLID"}]},
    }]


@pytest.mark.integration
def test_validate_only_and_dry_run_record_nothing(emulator: Emulator, start_stream_service: Any,
                                                  standin: Standin) -> None:
    stream, url, day = sample_stream(emulator, start_stream_service, "validate")
    curl(url, f"orderId=N5&status=paid&total=200.00&currency=USD&createdAt={day[3]}T11:00:00Z")
    assert counts(upload(emulator, stream, standin, "--dry-run")[1]) == (1, 0, 0, 0, 0, 0)
    assert standin.requests() == []
    assert counts(upload(emulator, stream, standin, "--validate-only")[1]) == (1, 0, 0, 0, 0, 0)
    assert [request["body"].get("validateOnly") for request in standin.requests()] == [True]
    assert ledger(emulator, stream) == []
    assert counts(upload(emulator, stream, standin)[1]) == (1, 0, 0, 0, 0, 0)  # still to send


NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)


def conversion(transaction_id: str, days_ago: int, value: str) -> Conversion:
    return Conversion(transaction_id, NOW - dt.timedelta(days=days_ago), None, "paid", Decimal(value), "USD",
                      gclid="g")


def test_the_plan_skips_conversions_older_than_the_import_window_but_still_adjusts_sent_ones() -> None:
    plan = plan_run([conversion("A", 89, "10"), conversion("B", 91, "10"), conversion("C", 120, "0"),
                     conversion("D", 120, "5"), conversion("E", 1, "0")],
                    {"D": Sent("conversion", Decimal("10"))}, NOW, 90)
    assert [(action.kind, action.conversion.transaction_id, action.value) for action in plan.actions] == [
        ("conversion", "A", Decimal("10")), ("restatement", "D", Decimal("5"))]
    assert (plan.outside_window, plan.unchanged) == (1, 2)  # B outside; C and E never sent and worth nothing


def test_nothing_is_sent_after_a_retraction() -> None:
    plan = plan_run([conversion("A", 1, "10")], {"A": Sent("retraction", Decimal("0"))}, NOW, 90)
    assert (plan.actions, plan.unchanged) == ([], 1)


def test_the_job_without_its_settings_says_what_is_missing() -> None:
    env = {key: value for key, value in os.environ.items() if key != "HOOKSTREAM_ADS_UPLOAD"}
    result = subprocess.run([sys.executable, "-m", "service.ads"], cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stderr.strip()) == (
        2, "python -m service.ads: HOOKSTREAM_ADS_UPLOAD is not set: the upload job's settings come from the deploy")


def test_the_job_settings_round_trip_through_the_environment() -> None:
    stream = with_ads(login_account="1112223334", import_window_days=30)
    assert stream.ads is not None
    config = AdsUploadConfig.of(stream.name, "my-project", stream.dataset, stream.table, stream.ads)
    assert AdsUploadConfig.from_env(config.to_env()) == config == AdsUploadConfig(
        stream="crm-orders", project="my-project", dataset="crm", view="orders_ads_conversions",
        ledger="orders_ads_uploads", operating_account="1234567890", conversion_destination="987654321",
        import_window_days=30, login_account="1112223334")
