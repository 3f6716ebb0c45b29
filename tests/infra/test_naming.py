"""Names derived from streams, and the rules the provider bindings do not check."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.naming import (
    StreamNames,
    check_cloud_run_service_name,
    check_deployable,
    check_output_name,
    check_secret_id,
    check_service_account_id,
)
from infra.streams import STREAMS
from service.model.stream import Stream, StreamDefinitionError, TableOptions


def test_shortest_and_longest_stream_names_give_these_names() -> None:
    longest = "a" * 19 + "z"  # 20 characters, the longest a stream name may be
    names = check_deployable((Stream(name="a", dataset="d", table="t1"), Stream(name=longest, dataset="d", table="t2")))
    assert names["a"] == StreamNames(
        service_account_id="hooks-a",
        replay_service_account_id="replay-a",
        cloud_run_service="hookstream-a",
        secret_id="hookstream-a-endpoint",
        endpoint_url_output="a_endpoint_url",
        table_id_output="a_table_id",
        service_account_output="a_service_account",
    )
    assert names[longest] == StreamNames(
        service_account_id="hooks-aaaaaaaaaaaaaaaaaaaz",  # 26 of the 30 characters IAM allows
        replay_service_account_id="replay-aaaaaaaaaaaaaaaaaaaz",  # 27
        cloud_run_service="hookstream-aaaaaaaaaaaaaaaaaaaz",
        secret_id="hookstream-aaaaaaaaaaaaaaaaaaaz-endpoint",
        endpoint_url_output="aaaaaaaaaaaaaaaaaaaz_endpoint_url",
        table_id_output="aaaaaaaaaaaaaaaaaaaz_table_id",
        service_account_output="aaaaaaaaaaaaaaaaaaaz_service_account",
    )


def test_shipped_streams_get_these_names() -> None:
    names = check_deployable(STREAMS)
    assert {name: (n.service_account_id, n.replay_service_account_id, n.cloud_run_service, n.secret_id,
                   n.endpoint_url_output) for name, n in names.items()} == {
        "crm-orders": ("hooks-crm-orders", "replay-crm-orders", "hookstream-crm-orders",
                       "hookstream-crm-orders-endpoint", "crm_orders_endpoint_url"),
        "crm-leads": ("hooks-crm-leads", "replay-crm-leads", "hookstream-crm-leads",
                      "hookstream-crm-leads-endpoint", "crm_leads_endpoint_url"),
    }


@pytest.mark.parametrize(("check", "bad", "field"), [
    (check_service_account_id, "hooks", "service account id"),          # < 6 characters
    (check_service_account_id, "hooks-" + "x" * 25, "service account id"),  # > 30 characters
    (check_service_account_id, "hooks-Orders", "service account id"),
    (check_service_account_id, "hooks-orders-", "service account id"),
    (check_cloud_run_service_name, "hookstream-" + "x" * 39, "Cloud Run service name"),  # 50 characters
    (check_cloud_run_service_name, "1hookstream", "Cloud Run service name"),
    (check_cloud_run_service_name, "hookstream-", "Cloud Run service name"),
    (check_secret_id, "hookstream.orders", "secret id"),
    (check_secret_id, "s" * 256, "secret id"),
    (check_output_name, "1_endpoint_url", "output name"),
])
def test_derived_name_rules_name_the_stream_and_field(check: Callable[[str, str], None], bad: str,
                                                      field: str) -> None:
    with pytest.raises(StreamDefinitionError) as error:
        check("crm-orders", bad)
    assert error.value.stream == "crm-orders"
    assert field in error.value.field_name
    assert repr(bad) in str(error.value)


def test_valid_derived_names_pass() -> None:
    check_service_account_id("s", "hooks-a")
    check_cloud_run_service_name("s", "hookstream-" + "x" * 38)
    check_secret_id("s", "hookstream-crm-orders-endpoint")


def test_duplicate_streams_are_rejected() -> None:
    twice = (Stream(name="orders", dataset="crm", table="orders"),
             Stream(name="orders", dataset="crm", table="orders2"))
    with pytest.raises(StreamDefinitionError, match=r"'orders'.*name"):
        check_deployable(twice)
    same_table = (Stream(name="orders", dataset="crm", table="orders"),
                  Stream(name="orders2", dataset="crm", table="orders"))
    with pytest.raises(StreamDefinitionError, match=r"'orders2'.*table"):
        check_deployable(same_table)


def test_streams_sharing_a_dataset_must_agree_on_its_location() -> None:
    streams = (Stream(name="orders", dataset="crm", table="orders", table_options=TableOptions(location="EU")),
               Stream(name="leads", dataset="crm", table="leads", table_options=TableOptions(location="US")))
    with pytest.raises(StreamDefinitionError) as error:
        check_deployable(streams)
    assert error.value.stream == "leads" and error.value.field_name == "table_options.location"
    assert "'orders'" in str(error.value)


def test_streams_sharing_a_dataset_must_agree_on_its_labels() -> None:
    streams = (Stream(name="orders", dataset="crm", table="orders",
                      table_options=TableOptions(labels=(("team", "sales"),))),
               Stream(name="leads", dataset="crm", table="leads",
                      table_options=TableOptions(labels=(("team", "marketing"), ("tier", "gold")))))
    with pytest.raises(StreamDefinitionError) as error:
        check_deployable(streams)
    assert error.value.stream == "leads" and error.value.field_name == "table_options.labels"


def test_derived_names() -> None:
    names = StreamNames.of(Stream(name="crm-orders", dataset="crm", table="orders"))
    assert (names.service_account_id, names.cloud_run_service, names.secret_id) == (
        "hooks-crm-orders", "hookstream-crm-orders", "hookstream-crm-orders-endpoint")
    assert names.endpoint_url_output == "crm_orders_endpoint_url"


def test_synth_bench_streams_are_deployable() -> None:
    from tools.bench.synth import generated_streams

    streams = generated_streams(50)
    assert len(check_deployable(streams)) == 50
    assert {stream.auth.mode for stream in streams} == {"token", "hmac", "standard-webhooks"}
