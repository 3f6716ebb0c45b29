"""The spool as deployed: the bucket's protections, create-only grants per stream prefix, the replay job."""

from __future__ import annotations

from typing import Any

import pytest

from infra.naming import STREAMS_STACK
from infra.streams import STREAMS
from tests.infra.helpers import VARIED_STREAMS, Synth

pytestmark = pytest.mark.synth

BUCKET = "hookstream-ci-test-hookstream-spool"  # from tests/infra/helpers.py's project "hookstream-ci-test"


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """The plain values (the endpoint secret comes from Secret Manager and has none)."""
    return {str(e["name"]): str(e["value"]) for e in container["env"] if "value" in e}


def test_one_protected_spool_bucket(shipped: Synth) -> None:
    (bucket,) = shipped.resources(STREAMS_STACK, "google_storage_bucket").values()
    assert bucket["name"] == BUCKET
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["force_destroy"] is False
    assert bucket["lifecycle_rule"] == [{"action": {"type": "Delete"}, "condition": {"age": 30}}]
    assert bucket["soft_delete_policy"] == {"retention_duration_seconds": 604800}
    # A retention policy would refuse the replay's delete of a row already in BigQuery.
    assert "retention_policy" not in bucket


@pytest.mark.parametrize("which", ["shipped", "varied"])
def test_each_stream_may_only_create_objects_under_its_own_prefix(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    streams = STREAMS if which == "shipped" else VARIED_STREAMS
    role = synth.resource(STREAMS_STACK, "google_project_iam_custom_role", "spool-writer-role")
    assert role["permissions"] == ["storage.objects.create"]
    grants = synth.resources(STREAMS_STACK, "google_storage_bucket_iam_member")
    for stream in streams:
        grant = grants[f"{stream.name}/{stream.name}-spool-writer"]
        assert grant["role"] == synth.ref(STREAMS_STACK, "google_project_iam_custom_role", "spool-writer-role",
                                          "name")
        assert grant["member"] == synth.ref(STREAMS_STACK, "google_service_account",
                                            f"{stream.name}/{stream.name}-sa", "member")
        assert grant["condition"]["expression"] == (
            f'resource.name.startsWith("projects/_/buckets/{BUCKET}/objects/spool/{stream.name}/")')
        service = synth.resource(STREAMS_STACK, "google_cloud_run_v2_service", f"{stream.name}/{stream.name}-service")
        assert env_of(service["template"]["containers"][0])["HOOKSTREAM_SPOOL_URL"] == (
            f"gs://{BUCKET}/spool/{stream.name}/")
    # The only unconditional grants on the bucket: each replay may list object names (objects.list is
    # checked on the bucket, which no object-name condition matches), and nothing else.
    unconditional = [g for g in grants.values() if "condition" not in g]
    list_role = synth.ref(STREAMS_STACK, "google_project_iam_custom_role", "replay-list-role", "name")
    assert sorted((g["role"], g["member"]) for g in unconditional) == sorted(
        (list_role, synth.ref(STREAMS_STACK, "google_service_account", f"{stream.name}/{stream.name}-replay-sa",
                              "member")) for stream in streams)


@pytest.mark.parametrize("which", ["shipped", "varied"])
def test_each_replay_reads_and_deletes_only_its_own_spool_and_lease(which: str,
                                                                    request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    streams = STREAMS if which == "shipped" else VARIED_STREAMS
    objects_role = synth.ref(STREAMS_STACK, "google_project_iam_custom_role", "replay-objects-role", "name")
    for stream in streams:
        name = stream.name
        grant = synth.resource(STREAMS_STACK, "google_storage_bucket_iam_member", f"{name}/{name}-replay-objects")
        assert grant["role"] == objects_role
        assert grant["member"] == synth.ref(STREAMS_STACK, "google_service_account", f"{name}/{name}-replay-sa",
                                            "member")
        # Written out: its own live and quarantine prefixes with the slash (so "crm" never matches
        # "crm-orders"), and its lease.
        assert grant["condition"]["expression"] == (
            f'resource.name.startsWith("projects/_/buckets/{BUCKET}/objects/spool/{name}/") || '
            f'resource.name.startsWith("projects/_/buckets/{BUCKET}/objects/spool/{name}.quarantine/") || '
            f'resource.name == "projects/_/buckets/{BUCKET}/objects/spool/{name}.replay-lock"')
        account = synth.resource(STREAMS_STACK, "google_service_account", f"{name}/{name}-replay-sa")
        assert account["account_id"] == f"replay-{name}"


def test_replay_reads_and_writes_each_table_and_nothing_more(shipped: Synth) -> None:
    role = shipped.resource(STREAMS_STACK, "google_project_iam_custom_role", "replay-table-role")
    assert role["permissions"] == ["bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.updateData"]
    for stream in STREAMS:
        grant = shipped.resource(STREAMS_STACK, "google_bigquery_table_iam_member",
                                 f"{stream.name}/{stream.name}-replay-table-access")
        # Each stream's own replay account, on its own table only.
        assert grant["member"] == shipped.ref(STREAMS_STACK, "google_service_account",
                                              f"{stream.name}/{stream.name}-replay-sa", "member")
        assert grant["table_id"] == shipped.ref(STREAMS_STACK, "google_bigquery_table",
                                                f"{stream.name}/{stream.name}-table", "table_id")


def test_a_replay_job_per_stream_started_every_five_minutes(shipped: Synth) -> None:
    for stream in STREAMS:
        replay_email = shipped.ref(STREAMS_STACK, "google_service_account",
                                   f"{stream.name}/{stream.name}-replay-sa", "email")
        job = shipped.resource(STREAMS_STACK, "google_cloud_run_v2_job", f"{stream.name}/{stream.name}-replay-job")
        assert job["name"] == f"hookstream-replay-{stream.name}"
        template = job["template"]["template"]
        assert template["service_account"] == replay_email
        container = template["containers"][0]
        assert container["command"] == ["python", "-m", "service.runtime.replay"]
        assert container["image"] == "europe-west3-docker.pkg.dev/hookstream-ci-test/hookstream/hookstream:test-tag"
        env = env_of(container)
        assert env["HOOKSTREAM_SPOOL_URL"] == f"gs://{BUCKET}/spool/{stream.name}/"
        assert (env["HOOKSTREAM_DATASET"], env["HOOKSTREAM_TABLE"]) == (stream.dataset, stream.table)
        assert "HOOKSTREAM_SECRETS" not in env  # the replay needs no endpoint secret
        schedule = shipped.resource(STREAMS_STACK, "google_cloud_scheduler_job",
                                    f"{stream.name}/{stream.name}-replay-schedule")
        assert schedule["schedule"] == "*/5 * * * *"
        assert schedule["http_target"]["uri"] == (
            "https://run.googleapis.com/v2/projects/hookstream-ci-test/locations/europe-west3/jobs/"
            f"hookstream-replay-{stream.name}:run")
        assert schedule["http_target"]["oauth_token"]["service_account_email"] == replay_email
