"""The custom roles as synthesized hold every permission Google lists for the methods their holder calls, and
nothing else; the table in infra/permissions.py says what Google lists, the figures below are written out
from Google's pages (links in docs/deploy.md, "Permissions")."""

from __future__ import annotations

import pytest

from infra.naming import STREAMS_STACK
from infra.permissions import INSERT_ALL, REPLAY, STREAM_WRITER, Identity, Scope
from tests.infra.helpers import Synth

pytestmark = pytest.mark.synth

# Written out by hand from Google's reference pages, not from infra/permissions.py.
EXPECTED_ROLES = {
    "writer-role": ["bigquery.tables.get", "bigquery.tables.updateData"],
    "dataset-reader-role": ["bigquery.datasets.get"],
    "spool-writer-role": ["storage.objects.create"],
    "replay-table-role": ["bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.updateData"],
    "replay-objects-role": ["storage.objects.create", "storage.objects.delete", "storage.objects.get"],
    "replay-list-role": ["storage.objects.list"],
}
# Which role each identity holds at which scope (the grants are checked in test_synth's least privilege).
HELD = {
    (STREAM_WRITER.key, Scope.TABLE): "writer-role",
    (STREAM_WRITER.key, Scope.DATASET): "dataset-reader-role",
    (STREAM_WRITER.key, Scope.SPOOL_PREFIX): "spool-writer-role",
    (REPLAY.key, Scope.TABLE): "replay-table-role",
    (REPLAY.key, Scope.DATASET): "dataset-reader-role",
    (REPLAY.key, Scope.SPOOL_PREFIX): "replay-objects-role",
    (REPLAY.key, Scope.BUCKET): "replay-list-role",
}


def test_insert_all_lists_what_googles_reference_lists() -> None:
    # https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/insertAll, "IAM Permissions".
    assert sorted(INSERT_ALL.permissions, key=lambda p: p[1]) == [
        (Scope.DATASET, "bigquery.datasets.get"), (Scope.TABLE, "bigquery.tables.get"),
        (Scope.TABLE, "bigquery.tables.updateData")]
    assert INSERT_ALL.reference.startswith("https://cloud.google.com/bigquery/docs/reference/rest/v2/")


def test_synthesized_custom_roles_are_exactly_these(shipped: Synth) -> None:
    roles = shipped.resources(STREAMS_STACK, "google_project_iam_custom_role")
    assert {key: body["permissions"] for key, body in roles.items()} == EXPECTED_ROLES


@pytest.mark.parametrize("identity", [STREAM_WRITER, REPLAY], ids=lambda identity: identity.key)
def test_each_role_covers_every_listed_permission_and_no_other(identity: Identity, shipped: Synth) -> None:
    roles = shipped.resources(STREAMS_STACK, "google_project_iam_custom_role")
    for scope in (Scope.TABLE, Scope.DATASET, Scope.SPOOL_PREFIX, Scope.BUCKET):
        held = HELD.get((identity.key, scope))
        granted = set(roles[held]["permissions"]) if held else set()
        listed = {permission for method in identity.calls for where, permission in method.permissions
                  if where is scope}
        missing, unneeded = listed - granted, granted - listed
        assert not missing, f"{identity.key} at {scope.value}: the role lacks {sorted(missing)}"
        assert not unneeded, f"{identity.key} at {scope.value}: no method needs {sorted(unneeded)}"
    project_listed = {p for method in identity.calls for where, p in method.permissions if where is Scope.PROJECT}
    assert project_listed == ({"bigquery.jobs.create"} if identity is REPLAY else set())


def test_every_method_names_its_reference_page() -> None:
    for identity in (STREAM_WRITER, REPLAY):
        for method in identity.calls:
            assert method.reference.startswith("https://cloud.google.com/"), method.name
