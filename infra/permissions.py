"""Which Google API methods each hookstream identity calls, and the permissions Google's reference lists.

The one place the custom roles come from (infra/stacks.py, infra/spool_resources.py build them with
`role_permissions`); docs/deploy.md ("Permissions") prints the same table with the links. Kept apart from
the stacks so tests and tools read it without loading the provider bindings.

A permission belongs to the resource Google checks it on (`Scope`): a table-level grant cannot give
`bigquery.datasets.get`, which is checked on the dataset, so each identity gets one role per scope.
The emulator checks no permission at all: what is listed here comes from Google's pages, not from
watching which requests pass locally.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Scope(Enum):
    """Where a permission is checked, and so where the role holding it is granted."""

    TABLE = "table"
    DATASET = "dataset"
    # Checked on the bucket itself (objects.list): an IAM condition on an object-name prefix cannot narrow it.
    BUCKET = "bucket"
    # Checked on each object: granted on the bucket with a condition on the stream's own object names.
    SPOOL_PREFIX = "spool prefix"
    PROJECT = "project"


@dataclass(frozen=True)
class ApiMethod:
    name: str
    reference: str
    permissions: tuple[tuple[Scope, str], ...]
    # Why the method's permission list is what it is, where the page alone does not say.
    note: str = ""


BQ = "https://cloud.google.com/bigquery/docs/reference/rest/v2"
GCS_JSON = "https://cloud.google.com/storage/docs/access-control/iam-json"

INSERT_ALL = ApiMethod(
    "bigquery.tabledata.insertAll", f"{BQ}/tabledata/insertAll",
    ((Scope.TABLE, "bigquery.tables.updateData"), (Scope.TABLE, "bigquery.tables.get"),
     (Scope.DATASET, "bigquery.datasets.get")))
QUERY_JOB = ApiMethod(
    "bigquery.jobs.insert (query)", f"{BQ}/jobs/insert",
    ((Scope.PROJECT, "bigquery.jobs.create"),),
    note="granted as the predefined roles/bigquery.jobUser: jobs.create exists only per project and "
         "reads no data by itself")
QUERY_READS_TABLE = ApiMethod(
    "a query reading the table", "https://cloud.google.com/bigquery/docs/running-queries#required_permissions",
    ((Scope.TABLE, "bigquery.tables.getData"),))
QUERY_RESULTS = ApiMethod(
    "bigquery.jobs.getQueryResults", f"{BQ}/jobs/getQueryResults", (),
    note="bigquery.jobs.get on one's own jobs comes with creating them "
         "(https://cloud.google.com/bigquery/docs/jobs-overview#required_permissions)")
OBJECT_CREATE_ONLY = ApiMethod(
    "storage.objects.insert (ifGenerationMatch=0)", GCS_JSON, ((Scope.SPOOL_PREFIX, "storage.objects.create"),),
    note="storage.objects.delete is listed only for overwriting an existing object, which a create-only "
         "upload never does")
OBJECT_OVERWRITE = ApiMethod(
    "storage.objects.insert (overwrite)", GCS_JSON,
    ((Scope.SPOOL_PREFIX, "storage.objects.create"), (Scope.SPOOL_PREFIX, "storage.objects.delete")),
    note="the replay's lease object is replaced when renewed")
OBJECT_GET = ApiMethod("storage.objects.get", GCS_JSON, ((Scope.SPOOL_PREFIX, "storage.objects.get"),))
OBJECT_LIST = ApiMethod("storage.objects.list", GCS_JSON, ((Scope.BUCKET, "storage.objects.list"),))
OBJECT_DELETE = ApiMethod("storage.objects.delete", GCS_JSON, ((Scope.SPOOL_PREFIX, "storage.objects.delete"),))


@dataclass(frozen=True)
class Identity:
    key: str
    title: str
    calls: tuple[ApiMethod, ...]


# Each stream's Cloud Run service: one insertAll per write (service/runtime/sink.py) and a create-only
# upload to its spool prefix when BigQuery does not take a row (service/runtime/spool.py).
STREAM_WRITER = Identity("stream-writer", "stream writer (each stream's service account)",
                         (INSERT_ALL, OBJECT_CREATE_ONLY))
# Each stream's replay job (service/runtime/replay.py), as its own account: list and read spooled objects,
# hold a lease object, look up which hit_ids the table already has (a query), insert the others, delete
# what is stored; quarantine (and requeue) is a create-only upload of a copy plus a delete of the original.
REPLAY = Identity("replay", "replay (each stream's replay job account)",
                  (OBJECT_LIST, OBJECT_GET, OBJECT_OVERWRITE, OBJECT_DELETE, QUERY_JOB, QUERY_READS_TABLE,
                   QUERY_RESULTS, INSERT_ALL))
# Each stream's Google Ads upload job (service/ads), as its own account: query the `<table>_ads_conversions`
# view (authorized on its dataset, so nothing under it is granted) and its ledger, insert into the ledger.
ADS_UPLOAD = Identity("ads-upload", "Google Ads upload (each ads stream's upload job account)",
                      (QUERY_JOB, QUERY_READS_TABLE, QUERY_RESULTS, INSERT_ALL))
IDENTITIES = (STREAM_WRITER, REPLAY, ADS_UPLOAD)


def role_permissions(identity: Identity, scope: Scope) -> tuple[str, ...]:
    """Every permission Google lists for the methods `identity` calls, checked at `scope`: a custom role's list."""
    return tuple(sorted({permission for method in identity.calls for where, permission in method.permissions
                         if where is scope}))
