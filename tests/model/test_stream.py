"""Stream definitions: what a reviewer relies on being checked at import."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra.sizing import check_sizing
from infra.stream_rules import check_unique
from infra.streams import STREAMS
from service.model.auth_settings import HmacAuth
from service.model.stream import RunOptions, Stream, StreamDefinitionError, TableOptions


def test_shipped_streams_include_the_sample_orders_stream() -> None:
    assert {stream.name for stream in STREAMS} >= {"crm-orders"}
    assert len(STREAMS) >= 2


@pytest.mark.parametrize(
    ("overrides", "field", "hint"),
    [
        ({"name": "Orders"}, "name", "lowercase"),
        ({"name": "orders-"}, "name", "not ending"),
        ({"dataset": "crm-data"}, "dataset", "letters, digits and underscores"),
        ({"table": ""}, "table", "letters, digits and underscores"),
        ({"time_zone": "Europe/Berln"}, "time_zone", "IANA"),
        ({"time_zone": "+3"}, "time_zone", "fixed offset"),
        ({"max_body_bytes": 0}, "max_body_bytes", "from 1 to"),
        ({"max_body_bytes": 50 * 1024 * 1024}, "max_body_bytes", "from 1 to"),
        ({"table_options": TableOptions(clustering=("status",))}, "table_options.clustering", "hit_id"),
        ({"table_options": TableOptions(partition_expiration_days=0)},
         "table_options.partition_expiration_days", "days"),
        ({"auth": HmacAuth(algorithm="md5")}, "auth.algorithm", "sha256"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_definition_names_stream_field_value_and_rule(overrides: dict[str, Any], field: str,
                                                            hint: str) -> None:
    settings: dict[str, Any] = {"name": "orders", "dataset": "crm", "table": "orders", **overrides}
    with pytest.raises(StreamDefinitionError) as caught:
        Stream(**settings)
    message = str(caught.value)
    assert f"stream {settings['name']!r}" in message
    assert f"{field}=" in message
    assert hint in message
    assert caught.value.field_name == field


def test_duplicate_names_and_destinations_are_refused() -> None:
    one = Stream(name="orders", dataset="crm", table="orders")
    with pytest.raises(StreamDefinitionError, match=re.escape("names must be unique")):
        check_unique((one, Stream(name="orders", dataset="crm", table="other")))
    with pytest.raises(StreamDefinitionError, match="'orders' already writes this table"):
        check_unique((one, Stream(name="orders-2", dataset="crm", table="orders")))


@pytest.mark.parametrize(
    ("run", "field", "hint"),
    [
        (RunOptions(min_instances=5, max_instances=2), "run.max_instances", "min_instances"),
        (RunOptions(concurrency=5000), "run.concurrency", "1-1000"),
        (RunOptions(cpu="3"), "run.cpu", "'4'"),
        (RunOptions(memory="512MB"), "run.memory", "'512Mi'"),
        (RunOptions(request_timeout_seconds=2), "run.request_timeout_seconds", "5-3600"),
    ],
)
def test_cloud_run_sizing_that_cannot_deploy_names_stream_field_and_rule(run: RunOptions, field: str,
                                                                         hint: str) -> None:
    with pytest.raises(StreamDefinitionError) as caught:
        check_sizing(Stream(name="orders", dataset="crm", table="orders", run=run))
    assert str(caught.value).startswith(f"stream 'orders': {field}=")
    assert hint in str(caught.value)


def test_cloud_run_memory_must_hold_every_concurrent_hit_at_the_body_limit() -> None:
    # 160 MiB for the process + 80 x 1 MiB x 4 = 480 MiB: fits the default 512Mi...
    check_sizing(Stream(name="orders", dataset="crm", table="orders", max_body_bytes=1024 * 1024,
                        run=RunOptions(concurrency=80, memory="512Mi")))
    # ...but not 256Mi, nor 512Mi at 200 concurrent hits (960 MiB).
    for run in (RunOptions(concurrency=80, memory="256Mi"), RunOptions(concurrency=200, memory="512Mi")):
        with pytest.raises(StreamDefinitionError) as caught:
            check_sizing(Stream(name="orders", dataset="crm", table="orders", max_body_bytes=1024 * 1024, run=run))
        message = str(caught.value)
        assert message.startswith(f"stream 'orders': run.memory='{run.memory}' is invalid: ")
        assert "raise run.memory, or lower run.concurrency or max_body_bytes" in message
    # Smaller bodies need less: 200 concurrent hits of 256 KiB fit in 512Mi (160 + 200 MiB).
    check_sizing(Stream(name="orders", dataset="crm", table="orders", max_body_bytes=256 * 1024,
                        run=RunOptions(concurrency=200, memory="512Mi")))
