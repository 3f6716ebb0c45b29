"""From resource changes to what a reviewer must decide: lost rows, a changed endpoint, a deploy that fails.

Each rule names the provider behaviour it rests on (hashicorp/google 6.50.0, see tools/operator/review/force_new.py).
"""

from __future__ import annotations

from typing import Any

from tools.operator.review.compare import (
    MS_PER_DAY,
    Finding,
    Resource,
    ResourceChange,
    Review,
    StreamReport,
    compare,
    flatten,
    resolve,
    resources_of,
    stream_names,
    stream_of,
)

_REMOVAL_BLOCKED = (
    "`cdktf deploy` would fail at this table after the stream's other resources are gone. To keep the rows, "
    "retire the stream (RETIRED_STREAMS in infra/streams.py); to delete them, first deploy the stream with "
    "TableOptions(deletion_protection=False), then remove it (docs/deploy.md, 'Removing a stream')")
_REPLACEMENT_BLOCKED = (
    "Terraform must destroy it to apply this change, so `cdktf deploy` would fail part-way. Keep the setting "
    "that forces the replacement, or deploy TableOptions(deletion_protection=False) on its own first and "
    "accept that the rows are lost")
ENDPOINT_URL_SUFFIX = "_endpoint_url"
KEEP_DATA = "keep data"
DELETE_DATA = "delete data"
BLOCKED = "blocked"


def review(base: dict[str, Any], work: dict[str, Any], allowed: frozenset[str] = frozenset()) -> Review:
    before, after = resources_of(base), resources_of(work)
    old_streams, new_streams = stream_names(before), stream_names(after)
    every_stream = old_streams | new_streams
    changes = compare(base, work)
    findings: list[Finding] = []
    by_stream: dict[str | None, list[ResourceChange]] = {}
    for change in changes:
        stream = stream_of(change.resource, every_stream)
        by_stream.setdefault(stream, []).append(change)
        findings += _findings(change, stream, before, after)
    reports = []
    for name in sorted(every_stream):
        status = ("added" if name not in old_streams else "removed" if name not in new_streams
                  else "changed" if by_stream.get(name) else "unchanged")
        report = StreamReport(name, status, by_stream.get(name, []))
        if status == "removed":
            report.removal_path = _removal_path(report.changes)
        reports.append(report)
    if by_stream.get(None):
        reports.append(StreamReport(None, "shared", by_stream[None]))
    findings += _endpoint_url_findings(base, work, every_stream)
    touched = {finding.stream for finding in findings if finding.kind == "data"}
    return Review(reports, findings, allowed, tuple(sorted(allowed - touched)))


def _protected(resource_body: dict[str, Any]) -> bool:
    # google_bigquery_table: deletion_protection defaults to true (resource_bigquery_table.go, Read sets true).
    return resource_body.get("deletion_protection", True) is not False


def _findings(change: ResourceChange, stream: str | None, before: dict[str, Resource],
              after: dict[str, Resource]) -> list[Finding]:
    resource = change.resource
    what = f"{resource.type} {resource.name}"
    found = []
    if resource.type == "google_bigquery_table" and not resource.is_view:
        old_body = before[resource.address].body if resource.address in before else resource.body
        resolvable = {**before, **after}
        table = f"table {resolve(old_body.get('dataset_id'), resolvable)}.{old_body.get('table_id')}"
        if change.kind == "forgotten":
            found.append(Finding("kept", stream, f"{table} leaves Terraform state and keeps its rows in BigQuery"))
        elif change.kind in ("removed", "replaced"):
            verb = "deleted" if change.kind == "removed" else "replaced by an empty table"
            why = f" ({'; '.join(change.because)})" if change.because else ""
            found.append(Finding("data", stream, f"{table} is {verb}: every stored row is lost{why}"))
            if _protected(old_body):
                found.append(Finding("blocked", stream, f"{table} has deletion protection: " + (
                    _REMOVAL_BLOCKED if change.kind == "removed" else _REPLACEMENT_BLOCKED)))
        elif change.kind == "changed":
            found += _expiry_findings(change, stream, table)
    elif resource.type == "google_bigquery_dataset" and change.kind in ("removed", "replaced"):
        found.append(Finding("data", stream, f"dataset {resource.body.get('dataset_id')} is "
                             f"{'deleted' if change.kind == 'removed' else 'replaced'}: BigQuery refuses while it "
                             "holds tables, and any table in it is lost"))
    elif resource.type == "google_cloud_run_v2_service" and change.kind in ("removed", "replaced"):
        outcome = ("stops answering" if change.kind == "removed"
                   else f"moves to a new URL ({'; '.join(change.because)})")
        found.append(Finding("endpoint", stream, f"the endpoint of {resource.body.get('name')} {outcome}: "
                             "CRMs calling the current URL get errors"))
    elif resource.type in ("random_password", "random_bytes") and change.kind == "replaced":
        found.append(Finding("endpoint", stream, "a new endpoint secret is generated: a token URL changes, "
                             "HMAC / Standard Webhooks senders must be given the new secret"))
    elif resource.type == "google_cloud_run_v2_service" and change.kind == "changed":
        for setting in change.settings:
            if setting.path.endswith(".value") and "AUTH" in _env_name(resource.body, setting.path):
                found.append(Finding("endpoint", stream, f"how senders authenticate changes ({what}: "
                                     f"{setting.before} -> {setting.after}): update the CRM's configuration"))
    return found


def _env_name(body: dict[str, Any], value_path: str) -> str:
    """'template.containers[0].env[6].value' -> the env var's name at that index."""
    name_path = value_path.rsplit(".", 1)[0] + ".name"
    return str(flatten(body).get(name_path, ""))


def _expiry_findings(change: ResourceChange, stream: str | None, table: str) -> list[Finding]:
    for setting in change.settings:
        # 0 is how the stack says "no expiry" (infra/stream_resources.py): never a deletion.
        if setting.path.endswith("expiration_ms") and setting.after and (
                not setting.before or setting.after < setting.before):
            days = int(setting.after) // MS_PER_DAY
            return [Finding("data", stream, f"{table}: partitions older than {days} days are deleted "
                                            "(partition_expiration_days set or lowered)")]
    return []


def _endpoint_url_findings(base: dict[str, Any], work: dict[str, Any], streams: set[str]) -> list[Finding]:
    """The `<stream>_endpoint_url` outputs (infra/naming.py): a different expression is a different URL."""
    by_output = {f"{name.replace('-', '_')}{ENDPOINT_URL_SUFFIX}": name for name in streams}
    old, new = base.get("output", {}), work.get("output", {})
    return [Finding("endpoint", by_output.get(name),
                    f"the endpoint URL changes (output {name}): give the CRM the new URL from `cdktf output`")
            for name in sorted(set(old) & set(new))
            if name.endswith(ENDPOINT_URL_SUFFIX) and old[name].get("value") != new[name].get("value")]


def _removal_path(changes: list[ResourceChange]) -> str:
    tables = [c for c in changes if c.resource.type == "google_bigquery_table" and not c.resource.is_view]
    if any(c.kind == "forgotten" for c in tables):
        return KEEP_DATA
    if any(c.kind == "removed" and not _protected(c.resource.body) for c in tables):
        return DELETE_DATA
    return BLOCKED
