"""Which attribute changes make Terraform replace (destroy, then create) a resource we synthesize.

Read from the provider source at the versions we pin (infra/engine/providers.py, pyproject.toml):
hashicorp/google 6.50.0 (cdktf-cdktf-provider-google 16.12.1), tag v6.50.0 of
https://github.com/hashicorp/terraform-provider-google: every schema attribute with `ForceNew: true` in
  google/services/bigquery/resource_bigquery_dataset.go, resource_bigquery_table.go,
  resource_bigquery_dataset_access.go, iam_bigquery_table.go
  google/services/cloudrunv2/resource_cloud_run_v2_service.go, iam_cloud_run_v2_service.go
  google/services/resourcemanager/resource_google_service_account.go, resource_google_project_iam_custom_role.go
  google/services/secretmanager/resource_secret_manager_secret.go, resource_secret_manager_secret_version.go,
  iam_secret_manager_secret.go
  google/services/logging/resource_logging_metric.go, google/services/monitoring/*.go
  google/services/storage/resource_storage_bucket.go, iam_storage_bucket.go
  google/services/cloudrunv2/resource_cloud_run_v2_job.go, iam_cloud_run_v2_job.go
  google/services/cloudscheduler/resource_cloud_scheduler_job.go, google/services/resourcemanager/iam_project.go
  google/tpgiamresource/resource_iam_member.go (role, member, condition of every *_iam_member)
and hashicorp/random 3.7.2 (cdktf-cdktf-provider-random 12.0.1): every argument of random_password and
random_bytes has a RequiresReplace plan modifier (internal/provider/resource_password.go, resource_bytes.go).
Docs: https://registry.terraform.io/providers/hashicorp/google/6.50.0/docs ("Changing this forces a new resource").

A rule is an attribute path without list indices: "time_partitioning.field" matches a change at
"time_partitioning[0].field"; a rule matches its own path and everything below it.
When the pinned provider version changes, re-read these files and update this table.
CDK Terrain (HOOKSTREAM_ENGINE=terrain) pins hashicorp/google 8.7.0: read against the provider source of
August 2026 (commit e03b762, 8.0.0), the same files add one ForceNew attribute on our types, `tags` of
google_cloud_run_v2_service and _job, which the stack never sets; 8.1-8.7 were not checked.
"""

from __future__ import annotations

import json
from typing import Any

_IAM_MEMBER = ("role", "member", "condition")

FORCE_NEW: dict[str, tuple[str, ...]] = {
    "google_bigquery_dataset": ("dataset_id", "location", "project", "external_dataset_reference"),
    "google_bigquery_table": (
        "table_id", "dataset_id", "project", "time_partitioning.field", "range_partitioning.field",
        "encryption_configuration", "materialized_view.query", "materialized_view.allow_non_incremental_definition",
        "biglake_configuration", "table_replication_info", "external_data_configuration.schema",
        "schema_foreign_type_info",
    ),
    "google_bigquery_dataset_access": (
        "dataset_id", "project", "view", "dataset", "routine", "role", "iam_member", "special_group", "domain",
        "group_by_email", "user_by_email", "condition",
    ),
    "google_bigquery_table_iam_member": ("project", "dataset_id", "table_id", *_IAM_MEMBER),
    "google_cloud_run_v2_service": ("name", "location", "project"),
    "google_cloud_run_v2_service_iam_member": ("project", "location", "name", *_IAM_MEMBER),
    "google_service_account": ("account_id", "project"),
    "google_project_iam_custom_role": ("role_id", "project"),
    "google_secret_manager_secret": ("secret_id", "project", "replication", "tags"),
    "google_secret_manager_secret_version": ("secret", "secret_data", "secret_data_wo_version",
                                             "is_secret_data_base64"),
    "google_secret_manager_secret_iam_member": ("project", "secret_id", *_IAM_MEMBER),
    "google_artifact_registry_repository": ("repository_id", "location", "format", "mode", "kms_key_name",
                                            "project", "remote_repository_config",
                                            "maven_config.allow_snapshot_overwrites",
                                            "maven_config.version_policy"),
    "google_logging_metric": ("project", "metric_descriptor.labels.key", "metric_descriptor.labels.value_type"),
    # The spool (infra/spool_resources.py): the bucket holds hits waiting for BigQuery; the job and the
    # schedule are what drains it.
    "google_storage_bucket": ("name", "location", "project", "custom_placement_config", "enable_object_retention",
                              "hierarchical_namespace"),
    "google_storage_bucket_iam_member": ("bucket", *_IAM_MEMBER),
    "google_cloud_run_v2_job": ("name", "location", "project"),
    "google_cloud_run_v2_job_iam_member": ("project", "location", "name", *_IAM_MEMBER),
    "google_cloud_scheduler_job": ("name", "region", "project"),
    "google_project_iam_member": ("project", *_IAM_MEMBER),
    "google_monitoring_alert_policy": ("project",),
    "google_monitoring_dashboard": ("project",),
    "google_monitoring_notification_channel": ("project",),
    "random_password": ("keepers", "length", "special", "upper", "lower", "number", "numeric", "min_numeric",
                        "min_upper", "min_lower", "min_special", "override_special"),
    "random_bytes": ("keepers", "length"),
}


def strip_indices(path: str) -> str:
    """'time_partitioning[0].field' -> 'time_partitioning.field'."""
    out, depth = [], 0
    for char in path:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def forces_replacement(resource_type: str, changed_path: str) -> str | None:
    """The force-new rule `changed_path` falls under, or None (an in-place update, or a type we don't know)."""
    bare = strip_indices(changed_path)
    for rule in FORCE_NEW.get(resource_type, ()):
        if bare == rule or bare.startswith(rule + "."):
            return rule
    return None


def table_schema_forces_replacement(old_schema: str, new_schema: str) -> bool:
    """The provider's CustomizeDiff on google_bigquery_table.schema (resourceBigQueryTableSchemaIsChangeable,
    resource_bigquery_table.go at v6.50.0): in place only when columns are added (not REQUIRED), top-level
    columns are dropped without others being added, descriptions change, or a mode relaxes REQUIRED ->
    NULLABLE. Anything else replaces the table."""
    try:
        old, new = json.loads(old_schema or "[]"), json.loads(new_schema or "[]")
    except json.JSONDecodeError:
        return True
    return not _changeable(old, new, top_level=True)


_TYPE_SETS = ({"INTEGER", "INT64"}, {"FLOAT", "FLOAT64"}, {"BOOLEAN", "BOOL"})


def _same_type(old: str, new: str) -> bool:
    old, new = old.upper(), new.upper()
    return old == new or any(old in group and new in group for group in _TYPE_SETS)


def _mode(value: Any) -> str:
    return "NULLABLE" if value is None else str(value).upper()


def _changeable(old: Any, new: Any, top_level: bool) -> bool:
    if isinstance(old, list):
        if not isinstance(new, list):
            return False
        old_by_name = {column.get("name"): column for column in old if isinstance(column, dict)}
        new_by_name = {column.get("name"): column for column in new if isinstance(column, dict)}
        for name, column in new_by_name.items():
            if name not in old_by_name and column.get("mode") == "REQUIRED":
                return False
        dropped = same_name = 0
        for name, column in old_by_name.items():
            if name not in new_by_name:
                if not top_level:
                    return False
                dropped += 1
                continue
            if not _changeable(column, new_by_name[name], top_level=False):
                return False
            if top_level:
                same_name += 1
        added = len(new) - same_name
        return dropped == 0 or added == 0
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return False
        for key in set(old) | set(new):
            before, after = old.get(key), new.get(key)
            if key == "name" and before != after:
                return False
            if key == "type":
                if before is None or after is None:
                    return True
                if not _same_type(str(before), str(after)):
                    return False
            if key == "mode":
                old_mode, new_mode = _mode(before), _mode(after)
                if old_mode != new_mode and not (old_mode == "REQUIRED" and new_mode == "NULLABLE"):
                    return False
            # The provider returns straight from this branch, so with Go's random map order the other keys
            # may go unchecked; checking all of them errs towards "replaced".
            if key == "fields" and not _changeable(before, after, top_level=False):
                return False
        return True
    return bool(old == new)
