"""Removing a stream setting really removes it: the synthesized value is the one Google applies as "none".

Fields the provider marks Optional+Computed keep their old value when left out of the configuration
(Terraform plans no change), so a removed setting must be synthesized explicitly; Optional-only fields are
cleared by leaving them out (the provider's table update replaces the whole table resource). Both cases are
checked here by synthesizing one stream with every removable setting and again without them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from infra.naming import STREAMS_STACK
from service.model.stream import RunOptions, Stream, TableOptions
from tests.infra.helpers import synthesize

pytestmark = pytest.mark.synth

WITH = Stream(name="orders", dataset="crm", table="orders", description="CRM orders",
              table_options=TableOptions(location="EU", partition_expiration_days=90, clustering=("hit_id",),
                                         labels=(("team", "growth"),)),
              run=RunOptions(min_instances=2, max_instances=4))
WITHOUT = Stream(name="orders", dataset="crm", table="orders", table_options=TableOptions(location="EU"))


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, Any]]:
    return {label: synthesize((stream,)).resource(STREAMS_STACK, "google_bigquery_table", "orders/orders-table")
            for label, stream in (("with", WITH), ("without", WITHOUT))}


def test_partition_expiry_removed_is_sent_as_none(tables: dict[str, dict[str, Any]]) -> None:
    assert tables["with"]["time_partitioning"]["expiration_ms"] == 90 * 86_400_000  # 7,776,000,000
    # Optional+Computed: left out, the old 90 days would stay and old partitions keep being deleted.
    assert tables["without"]["time_partitioning"]["expiration_ms"] == 0


def test_optional_only_settings_are_cleared_by_leaving_them_out(tables: dict[str, dict[str, Any]]) -> None:
    assert tables["with"]["clustering"] == ["hit_id"]
    assert "clustering" not in tables["without"]
    assert tables["with"]["description"] == "CRM orders"
    assert "description" not in tables["without"]
    assert tables["with"]["labels"] == {"team": "growth", "hookstream-stream": "orders"}
    assert tables["without"]["labels"] == {"hookstream-stream": "orders"}


def test_scaling_removed_goes_back_to_the_defaults_explicitly() -> None:
    scaling = {label: synthesize((stream,)).resource(STREAMS_STACK, "google_cloud_run_v2_service",
                                                      "orders/orders-service")["template"]["scaling"]
               for label, stream in (("with", WITH), ("without", replace(WITH, run=RunOptions())))}
    assert scaling["with"] == {"min_instance_count": 2, "max_instance_count": 4}
    # RunOptions' defaults, written out: nothing is left for the provider to keep from before.
    assert scaling["without"] == {"min_instance_count": 0, "max_instance_count": 10}
