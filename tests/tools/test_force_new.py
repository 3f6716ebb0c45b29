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


# The table schema of the release before the headers column, as its synth wrote it (written out).
PREVIOUS_RELEASE_SCHEMA = [
    {"name": "hit_id", "type": "STRING", "mode": "REQUIRED",
     "description": "Unique id generated when the request was received (UUID4)."},
    {"name": "payload", "type": "STRING", "mode": "NULLABLE",
     "description": "The request body exactly as sent; for a GET, the raw query string."},
    {"name": "received_at", "type": "INTEGER", "mode": "NULLABLE",
     "description": "Time of receipt, Unix milliseconds (UTC)."},
    {"name": "date", "type": "DATE", "mode": "NULLABLE",
     "description": "Day of receipt in the stream's time zone; the table is partitioned on it."},
    {"name": "delivery_id", "type": "STRING", "mode": "NULLABLE",
     "description": "The sender's delivery id (webhook-id or a configured header), when it gives one; "
                    "a repeated delivery repeats it."},
]


def test_this_release_adds_the_headers_column_in_place_and_a_required_one_would_replace() -> None:
    from service.model.schema import schema_json

    current = schema_json()
    assert [column["name"] for column in current] == [*(c["name"] for c in PREVIOUS_RELEASE_SCHEMA), "headers"]
    assert current[:5] == PREVIOUS_RELEASE_SCHEMA  # nothing else of the layout changed
    assert table_schema_forces_replacement(json.dumps(PREVIOUS_RELEASE_SCHEMA), json.dumps(current)) is False
    required = [*current[:5], {**current[5], "mode": "REQUIRED"}]
    assert table_schema_forces_replacement(json.dumps(PREVIOUS_RELEASE_SCHEMA), json.dumps(required)) is True
