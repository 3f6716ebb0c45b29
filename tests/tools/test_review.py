"""scripts/review: real synthesized stacks of two stream lists, and the report a reviewer reads about them.

Synth is slow (the provider bindings load once per session, then ~1-2 s per app): each stream list is
synthesized once per module and every test reads the same output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from infra.retired import RetiredStream
from service.model.auth_settings import HmacAuth
from service.model.stream import RunOptions, Stream, TableOptions
from tests.infra.helpers import CONFIG
from tools.operator.review.compare import Review
from tools.operator.review.findings import BLOCKED, DELETE_DATA, KEEP_DATA, review
from tools.operator.review.report import render

pytestmark = pytest.mark.synth
REPO_ROOT = Path(__file__).resolve().parents[2]

EU = TableOptions(location="EU")
ORDERS = Stream(name="orders", dataset="crm", table="orders", table_options=EU)
LEADS = Stream(name="leads", dataset="crm", table="leads",
               table_options=replace(EU, deletion_protection=False))
EVENTS = Stream(name="events", dataset="shop", table="events", auth=HmacAuth(header="X-Sig"))
BASE = (ORDERS, LEADS, EVENTS)

# One "after" list with several kinds of change at once: a renamed table (replaced, protected), a stream
# removed after its protection was turned off, in-place changes with a partition expiry, a new stream.
RESHAPED = (
    replace(ORDERS, table="orders_v2"),
    replace(EVENTS, run=RunOptions(max_instances=3),
            table_options=replace(EVENTS.table_options, partition_expiration_days=30)),
    Stream(name="billing", dataset="shop", table="billing"),
)
# Another: one stream retired (data kept), one whose senders must authenticate differently, one removed
# while its table is still protected.
RETIRING = (replace(LEADS, auth=HmacAuth(header="X-Sig")),)
RETIRED = (RetiredStream(name="orders", dataset="crm", table="orders"),)


def synth_streams_stack(tmp: Path, streams: tuple[Stream, ...],
                        retired: tuple[RetiredStream, ...] = ()) -> dict[str, Any]:
    from infra.app import build_app

    build_app(streams, CONFIG, outdir=str(tmp), warn=lambda message: None, retired=retired).synth()
    return json.loads((tmp / "stacks" / "hookstream" / "cdk.tf.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return {name: synth_streams_stack(tmp_path_factory.mktemp(name), streams, retired)
            for name, streams, retired in (("base", BASE, ()), ("reshaped", RESHAPED, ()),
                                           ("retiring", RETIRING, RETIRED))}


@pytest.fixture(scope="module")
def reshaped(stacks: dict[str, dict[str, Any]]) -> Review:
    return review(stacks["base"], stacks["reshaped"])


@pytest.fixture(scope="module")
def retiring(stacks: dict[str, dict[str, Any]]) -> Review:
    return review(stacks["base"], stacks["retiring"])


def findings(result: Review, kind: str, stream: str) -> list[str]:
    return [f.message for f in result.findings if f.kind == kind and f.stream == stream]


def stream_report(result: Review, name: str) -> Any:
    (report,) = [r for r in result.streams if r.name == name]
    return report


def test_the_same_streams_review_clean(stacks: dict[str, dict[str, Any]]) -> None:
    result = review(stacks["base"], stacks["base"])
    assert result.findings == [] and result.unallowed == []
    assert {r.name: r.status for r in result.streams} == {"events": "unchanged", "leads": "unchanged",
                                                          "orders": "unchanged"}
    assert "No changes to the streams stack." in render(result, markdown=False)


def test_streams_added_and_removed_are_named(reshaped: Review) -> None:
    assert {r.name: r.status for r in reshaped.streams if r.name} == {
        "orders": "changed", "leads": "removed", "events": "changed", "billing": "added"}
    added = {(c.kind, c.resource.type) for c in stream_report(reshaped, "billing").changes}
    assert ("added", "google_cloud_run_v2_service") in added and ("added", "google_bigquery_table") in added


def test_a_renamed_table_is_replaced_destroys_data_and_cannot_deploy_while_protected(reshaped: Review) -> None:
    (table,) = [c for c in stream_report(reshaped, "orders").changes if c.resource.name == "orders-table"]
    assert table.kind == "replaced"
    assert table.because == ["table_id changes (force-new: table_id)"]
    assert findings(reshaped, "data", "orders") == [
        "table crm.orders is replaced by an empty table: every stored row is lost "
        "(table_id changes (force-new: table_id))"]
    (blocked,) = findings(reshaped, "blocked", "orders")
    assert blocked.startswith("table crm.orders has deletion protection: Terraform must destroy it")
    # The grant on the table goes with it (it names the table): replaced, not merely changed.
    (writer,) = [c for c in stream_report(reshaped, "orders").changes if c.resource.name == "orders-table-writer"]
    assert writer.kind == "replaced" and writer.because[0].startswith("follows google_bigquery_table.")


def test_removing_an_unprotected_stream_is_the_delete_path_and_needs_an_allowance(
        stacks: dict[str, dict[str, Any]], reshaped: Review) -> None:
    leads = stream_report(reshaped, "leads")
    assert leads.removal_path == DELETE_DATA
    assert findings(reshaped, "data", "leads") == ["table crm.leads is deleted: every stored row is lost"]
    assert findings(reshaped, "blocked", "leads") == []
    assert findings(reshaped, "endpoint", "leads") == [
        "the endpoint of hookstream-leads stops answering: CRMs calling the current URL get errors"]
    assert "leads" in {f.stream for f in reshaped.unallowed}
    allowed = review(stacks["base"], stacks["reshaped"], allowed=frozenset({"leads"}))
    assert "leads" not in {f.stream for f in allowed.unallowed}
    assert "orders" in {f.stream for f in allowed.unallowed}  # an allowance covers only its stream


def test_in_place_changes_list_their_settings_and_a_new_expiry_deletes_partitions(reshaped: Review) -> None:
    events = stream_report(reshaped, "events")
    (service,) = [c for c in events.changes if c.resource.type == "google_cloud_run_v2_service"]
    assert service.kind == "changed"
    assert [(s.path, s.before, s.after) for s in service.settings] == [
        ("template.scaling.max_instance_count", 10, 3)]
    assert findings(reshaped, "data", "events") == [
        "table shop.events: partitions older than 30 days are deleted (partition_expiration_days set or lowered)"]


def test_retiring_a_stream_keeps_its_table_and_passes(stacks: dict[str, dict[str, Any]], retiring: Review) -> None:
    orders = stream_report(retiring, "orders")
    assert orders.status == "removed" and orders.removal_path == KEEP_DATA
    (table,) = [c for c in orders.changes if c.resource.name == "orders-table"]
    assert table.kind == "forgotten"
    assert findings(retiring, "kept", "orders") == [
        "table crm.orders leaves Terraform state and keeps its rows in BigQuery"]
    assert findings(retiring, "data", "orders") == [] and findings(retiring, "blocked", "orders") == []
    # The removed block names exactly the address the table had while the stream existed.
    base_tables = stacks["base"]["resource"]["google_bigquery_table"]
    (orders_key,) = [key for key, body in base_tables.items() if body["table_id"] == "orders"]
    assert stacks["retiring"]["removed"] == [
        {"from": f"google_bigquery_table.{orders_key}", "lifecycle": {"destroy": False}}]


def test_removing_a_protected_stream_is_blocked(retiring: Review) -> None:
    events = stream_report(retiring, "events")
    assert events.removal_path == BLOCKED
    (blocked,) = findings(retiring, "blocked", "events")
    assert blocked.startswith("table shop.events has deletion protection: `cdktf deploy` would fail")
    # Its dataset has no stream left: deleting it is refused while it holds the table, and loses it.
    assert any(f.kind == "data" and "dataset shop is deleted" in f.message for f in retiring.findings)


def test_a_new_auth_mode_is_an_endpoint_change(retiring: Review) -> None:
    messages = findings(retiring, "endpoint", "leads")
    assert any(m.startswith("how senders authenticate changes") for m in messages), messages
    # Token -> HMAC: the secret stays (same random_password), but it leaves the URL.
    assert "the endpoint URL changes (output leads_endpoint_url): give the CRM the new URL" in " ".join(messages)
    assert not any("a new endpoint secret" in m for m in messages)


def test_markdown_and_terminal_reports_say_the_same(reshaped: Review) -> None:
    markdown, terminal = render(reshaped, markdown=True), render(reshaped, markdown=False)
    assert markdown.startswith("## hookstream review\nResult: **FAILS")
    assert "### stream leads (removed)" in markdown and "== stream leads (removed)" in terminal
    assert ("Removal path: delete the data: deletion protection is already off, the table and its rows "
            "are deleted") in terminal
    assert "template.scaling.max_instance_count: 10 -> 3" in terminal
    assert "```" in markdown and "```" not in terminal
    assert "secret_data" not in markdown or "(secret)" in markdown


def test_a_stale_allowance_is_pointed_out(stacks: dict[str, dict[str, Any]]) -> None:
    result = review(stacks["base"], stacks["base"], allowed=frozenset({"orders"}))
    assert result.stale_allowances == ("orders",)
    assert "data loss is allowed for stream orders, which loses no data in this change" in render(result, False)


def test_scripts_review_compares_the_work_tree_with_a_commit(tmp_path: Path) -> None:
    """The command end to end: a clone whose work tree drops a protected stream, reviewed against HEAD.

    (docs/deploy.md: the marker is ALLOW_DATA_LOSS in infra/streams.py.)"""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(clone)], check=True)
    for changed in ("infra", "tools", "service"):  # this branch's uncommitted code, if any, as HEAD
        subprocess.run(["cp", "-r", str(REPO_ROOT / changed), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "base"], check=True)
    streams_py = clone / "infra" / "streams.py"
    text = streams_py.read_text()
    start = text.index("    # Lead updates")
    text = text[:start] + text[text.index("    ),\n", start) + len("    ),\n"):]
    # The visible marker is read from the work tree (it cannot unblock a protected table, though).
    streams_py.write_text(text.replace("ALLOW_DATA_LOSS: tuple[str, ...] = ()", 'ALLOW_DATA_LOSS = ("crm-leads",)'))
    summary = tmp_path / "summary.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKSTREAM_")}
    result = subprocess.run([sys.executable, "-m", "tools.operator.review", "--base", "HEAD",
                             "--markdown-to", str(summary)],
                            cwd=clone, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 1, result.stderr
    assert "== stream crm-leads (removed)" in result.stdout
    assert "Removal path: blocked" in result.stdout
    assert "- Destroys stored data (allowed): stream crm-leads: table crm.leads is deleted" in result.stdout
    assert "Unchanged: crm-orders" in result.stdout
    assert "### stream crm-leads (removed)" in summary.read_text()


def without_headers_column(stack: dict[str, Any]) -> dict[str, Any]:
    """The same stack as the release before the headers column synthesized it: each table's schema without it."""
    previous: dict[str, Any] = json.loads(json.dumps(stack))
    for table in previous["resource"]["google_bigquery_table"].values():
        if "schema" in table:
            columns = json.loads(table["schema"])
            assert columns[-1]["name"] == "headers"
            table["schema"] = json.dumps(columns[:-1])
    return previous


def test_adding_the_headers_column_is_an_in_place_table_update(stacks: dict[str, dict[str, Any]]) -> None:
    result = review(without_headers_column(stacks["base"]), stacks["base"])
    assert result.unallowed == [] and [f for f in result.findings if f.kind in ("data", "blocked")] == []
    for name in ("orders", "leads", "events"):
        (table,) = [c for c in stream_report(result, name).changes if c.resource.type == "google_bigquery_table"]
        assert (table.kind, table.because, [s.path for s in table.settings]) == ("changed", [], ["schema"])
    report = render(result, markdown=False)
    assert "replaced" not in report
    assert report.count("  changed: google_bigquery_table orders-table\n"
                        "      schema: column added: headers (STRING, NULLABLE)\n") == 1
