"""The GA4-stitched views in the cdktf stack: same SQL as the local stack, authorized on the GA4 dataset."""

from __future__ import annotations

import dataclasses

import pytest

from infra.streams import STREAMS
from service.model.stitch import CostTable, GA4Export, GoogleAdsCost
from tests.infra.helpers import CONFIG, Synth, synthesize

pytestmark = pytest.mark.synth
STREAMS_STACK = "hookstream"
CRM_ORDERS = next(stream for stream in STREAMS if stream.name == "crm-orders")
STITCHED = dataclasses.replace(CRM_ORDERS, stitch=GA4Export(
    dataset="analytics_987", project="acme-marketing",
    # The transfer's dataset and a cost table in the stream's own dataset (that one needs no grant).
    costs=(GoogleAdsCost("google_ads", "1234567890", "EUR", project="acme-marketing"), CostTable("crm.costs"))))


@pytest.fixture(scope="module")
def stitched() -> Synth:
    return synthesize((STITCHED,))


def views_by_id(synth: Synth) -> dict[str, dict[str, object]]:
    return {body["table_id"]: body for body in synth.resources(STREAMS_STACK, "google_bigquery_table").values()
            if "view" in body}


def test_both_views_are_deployed_reading_the_declared_export_and_the_latest_view(stitched: Synth) -> None:
    # The SQL's results are checked in the emulator (tests/infra/test_attributed_view.py); here, that the
    # deployed text reads what the declaration names.
    views = views_by_id(stitched)
    assert sorted(views) == ["orders_attributed", "orders_latest", "orders_revenue_by_channel",
                             "orders_roi_by_channel"]
    attributed, report = views["orders_attributed"], views["orders_revenue_by_channel"]
    assert attributed["view"]["use_legacy_sql"] is False and report["view"]["use_legacy_sql"] is False  # type: ignore[index]
    query = attributed["view"]["query"]  # type: ignore[index]
    assert "FROM `acme-marketing.analytics_987.events_*` AS e" in query
    assert "FROM `hookstream-ci-test.crm.orders_latest` AS l" in query
    assert "FROM `hookstream-ci-test.crm.orders_attributed`" in report["view"]["query"]  # type: ignore[index]
    assert attributed["deletion_protection"] is False
    latest = stitched.resource(STREAMS_STACK, "google_bigquery_table", "crm-orders/crm-orders-latest-view")
    attributed_key = stitched.resource(STREAMS_STACK, "google_bigquery_table",
                                       "crm-orders/crm-orders-ga4/crm-orders-attributed-view")["_key"]
    assert f"google_bigquery_table.{latest['_key']}" in attributed["depends_on"]  # type: ignore[operator]
    assert f"google_bigquery_table.{attributed_key}" in report["depends_on"]  # type: ignore[operator]
    roi = views["orders_roi_by_channel"]["view"]["query"]  # type: ignore[index]
    assert "FROM `hookstream-ci-test.crm.orders_attributed` AS a" in roi
    assert "FROM `acme-marketing.google_ads.ads_CampaignBasicStats_1234567890` AS s" in roi
    assert "FROM `hookstream-ci-test.crm.costs` AS ct" in roi


def test_each_view_is_authorized_on_the_ga4_dataset_and_nothing_else_is_granted(stitched: Synth) -> None:
    # The other access entries are the stream's and the replay's dataset metadata grants (test_permissions).
    grants = {path: body for path, body in stitched.resources(STREAMS_STACK, "google_bigquery_dataset_access").items()
              if "-ga4/" in path}
    assert sorted(grants) == ["crm-orders/crm-orders-ga4/crm-orders-attributed-view-ga4-access",
                              "crm-orders/crm-orders-ga4/crm-orders-revenue-by-channel-view-ga4-access",
                              "crm-orders/crm-orders-ga4/crm-orders-roi-by-channel-view-ga4-access",
                              "crm-orders/crm-orders-ga4/crm-orders-roi-cost-0-access"]
    roi_key = stitched.resource(STREAMS_STACK, "google_bigquery_table",
                                "crm-orders/crm-orders-ga4/crm-orders-roi-by-channel-view")["_key"]
    roi_view = f"google_bigquery_table.{roi_key}"
    # The ROI view, and only it, may read the Google Ads transfer's dataset.
    assert {k: v for k, v in grants["crm-orders/crm-orders-ga4/crm-orders-roi-cost-0-access"].items()
            if not k.startswith("_")} == {
        "project": "acme-marketing", "dataset_id": "google_ads",
        "view": {"project_id": CONFIG.project, "dataset_id": f"${{{roi_view}.dataset_id}}",
                 "table_id": f"${{{roi_view}.table_id}}"},
        "depends_on": ["time_sleep.apis-propagated"]}
    for suffix in ("attributed-view", "revenue-by-channel-view", "roi-by-channel-view"):
        grant = grants[f"crm-orders/crm-orders-ga4/crm-orders-{suffix}-ga4-access"]
        view_key = stitched.resource(STREAMS_STACK, "google_bigquery_table",
                                    f"crm-orders/crm-orders-ga4/crm-orders-{suffix}")["_key"]
        view = f"google_bigquery_table.{view_key}"
        assert {k: v for k, v in grant.items() if not k.startswith("_")} == {
            "project": "acme-marketing",
            "dataset_id": "analytics_987",
            "view": {"project_id": CONFIG.project, "dataset_id": f"${{{view}.dataset_id}}",
                     "table_id": f"${{{view}.table_id}}"},
            "depends_on": ["time_sleep.apis-propagated"],
        }
    resource_types = set(stitched.stacks[STREAMS_STACK]["resource"])
    # No role on the GA4 dataset or project for anyone: only the views may read it. (The writer
    # role's definition, google_project_iam_custom_role, grants nothing by itself.)
    role_grants = {t for t in resource_types if t.startswith(("google_bigquery_dataset_iam", "google_project_iam"))}
    assert role_grants <= {"google_project_iam_custom_role", "google_project_iam_member"}, role_grants
    # The one project grant is the spool replay's query jobs, in the deployment's own project (test_spool_synth).
    project_grants = stitched.resources(STREAMS_STACK, "google_project_iam_member").values()
    assert [(g["project"], g["role"]) for g in project_grants] == [(CONFIG.project, "roles/bigquery.jobUser")]


def test_the_shipped_stack_has_no_ga4_grant(shipped: Synth) -> None:
    assert [path for path in shipped.resources(STREAMS_STACK, "google_bigquery_dataset_access")
            if "ga4" in path] == []
    assert sorted(views_by_id(shipped)) == ["orders_latest"]


def test_the_deployed_views_carry_the_description_the_local_stack_gives_them(stitched: Synth) -> None:
    # Both stacks take id, SQL and description from one spec (infra/views/attributed.py); written out here
    # so a change to either text shows up in review.
    views = views_by_id(stitched)
    assert views["orders_attributed"]["description"] == (
        "Orders of crm.orders stitched to GA4 purchases in analytics_987 (hookstream)")
    assert views["orders_revenue_by_channel"]["description"] == (
        "Web vs CRM-confirmed orders and revenue per day and channel of crm.orders (hookstream)")
    assert views["orders_roi_by_channel"]["description"] == (
        "Cost, GA4 and CRM-final revenue and ROAS per day and campaign of crm.orders (hookstream)")
