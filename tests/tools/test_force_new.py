"""The replacement rules scripts/review applies, on literal cases read from the provider source (v6.50.0)."""

from __future__ import annotations

import json

import pytest

from tools.operator.review.force_new import forces_replacement, table_schema_forces_replacement

BASE = [{"name": "hit_id", "type": "STRING", "mode": "REQUIRED"}, {"name": "payload", "type": "STRING"},
        {"name": "n", "type": "INTEGER"}]


def schema(*columns: dict[str, str]) -> str:
    return json.dumps(list(columns))


@pytest.mark.parametrize(("after", "replaced"), [
    (schema(*BASE), False),
    (schema(*BASE, {"name": "extra", "type": "STRING"}), False),  # a NULLABLE column added
    (schema(*BASE, {"name": "extra", "type": "STRING", "mode": "REQUIRED"}), True),
    (schema(BASE[0], BASE[1]), False),  # a top-level column dropped, nothing added
    (schema(BASE[0], BASE[1], {"name": "m", "type": "INTEGER"}), True),  # dropped and added: a rename?
    (schema(BASE[0], BASE[1], {"name": "n", "type": "INT64"}), False),  # the same type, its other name
    (schema(BASE[0], BASE[1], {"name": "n", "type": "STRING"}), True),
    (schema({"name": "hit_id", "type": "STRING"}, BASE[1], BASE[2]), False),  # REQUIRED -> NULLABLE
    (schema(BASE[0], {"name": "payload", "type": "STRING", "mode": "REQUIRED"}, BASE[2]), True),
    (schema(BASE[0], {"name": "payload", "type": "STRING", "description": "raw"}, BASE[2]), False),
], ids=["same", "add-nullable", "add-required", "drop", "drop-and-add", "int64", "retype", "relax", "tighten",
        "describe"])
def test_table_schema_changes(after: str, replaced: bool) -> None:
    assert table_schema_forces_replacement(schema(*BASE), after) is replaced


@pytest.mark.parametrize(("resource_type", "path", "rule"), [
    ("google_bigquery_table", "table_id", "table_id"),
    ("google_storage_bucket", "name", "name"),
    ("google_storage_bucket", "location", "location"),
    ("google_storage_bucket", "lifecycle_rule[0].condition[0].age", None),
    ("google_cloud_run_v2_job", "name", "name"),
    ("google_cloud_run_v2_job", "template.template.containers[0].image", None),
    ("google_cloud_scheduler_job", "name", "name"),
    ("google_cloud_scheduler_job", "schedule", None),
    ("google_storage_bucket_iam_member", "condition[0].expression", "condition"),
    ("google_bigquery_table", "time_partitioning[0].field", "time_partitioning.field"),
    ("google_bigquery_table", "time_partitioning.expiration_ms", None),
    ("google_bigquery_table", "deletion_protection", None),
    ("google_bigquery_dataset", "location", "location"),
    ("google_cloud_run_v2_service", "name", "name"),
    ("google_cloud_run_v2_service", "template.containers[0].image", None),
    ("google_service_account", "account_id", "account_id"),
    ("google_service_account", "description", None),
    ("google_secret_manager_secret", "replication.auto", "replication"),
    ("google_cloud_run_v2_service_iam_member", "member", "member"),
    ("random_password", "length", "length"),
    ("google_logging_metric", "metric_descriptor.labels[1].key", "metric_descriptor.labels.key"),
    ("google_logging_metric", "filter", None),
])
def test_force_new_attributes(resource_type: str, path: str, rule: str | None) -> None:
    assert forces_replacement(resource_type, path) == rule
