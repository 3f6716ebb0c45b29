"""What `cdktf synth` produces for each stream, read from the synthesized Terraform JSON."""

from __future__ import annotations

import json

import pytest

from infra.engine.setting import selected_engine
from infra.naming import REGISTRY_REPOSITORY_ID, REGISTRY_STACK, STREAMS_STACK, StreamNames
from infra.streams import STREAMS
from service.model.schema import PARTITION_FIELD, PARTITION_TYPE, schema_json
from service.model.service_env import SECRETS, SPOOL_URL, from_env
from service.model.stream import Stream
from tests.infra.helpers import CONFIG, VARIED_STREAMS, Synth, synthesize

pytestmark = pytest.mark.synth

ALL_CASES = [("shipped", stream) for stream in STREAMS] + [("varied", stream) for stream in VARIED_STREAMS]


@pytest.fixture(params=ALL_CASES, ids=lambda case: f"{case[0]}:{case[1].name}")
def case(request: pytest.FixtureRequest) -> tuple[Synth, Stream]:
    which, stream = request.param
    synth: Synth = request.getfixturevalue(which)
    return synth, stream


@pytest.fixture(params=[c for c in ALL_CASES if c[1].auth.mode != "none"],
                ids=lambda case: f"{case[0]}:{case[1].name}")
def secret_case(request: pytest.FixtureRequest) -> tuple[Synth, Stream]:
    """Streams with an endpoint secret (every auth mode but 'none')."""
    which, stream = request.param
    synth: Synth = request.getfixturevalue(which)
    return synth, stream


def path(stream: Stream, part: str) -> str:
    return f"{stream.name}/{stream.name}-{part}"


def is_spool_resource(path: str) -> bool:
    """The replay's account, and a stream's spool grant and replay access (infra/spool_resources.py)."""
    return path.endswith(("-spool-writer", "-replay-sa", "-replay-objects", "-replay-list", "-replay-table-access",
                          "-replay-dataset-reader", "-replay-job-user", "-replay-grants-propagated"))


def test_every_shipped_stream_gets_its_resources(shipped: Synth) -> None:
    expected_per_stream = ["google_service_account", "google_bigquery_table", "google_bigquery_table_iam_member",
                           "google_secret_manager_secret", "google_secret_manager_secret_version",
                           "google_secret_manager_secret_iam_member", "random_password",
                           "google_cloud_run_v2_service", "google_cloud_run_v2_service_iam_member",
                           "google_bigquery_dataset_access", "time_sleep"]
    resources = shipped.stacks[STREAMS_STACK]["resource"]
    for resource_type in expected_per_stream:
        owners = sorted(path.split("/")[0] for path, body in shipped.resources(STREAMS_STACK, resource_type).items()
                        if "view" not in body  # views: test_streams_with_a_latest_view_get_the_same_sql...
                        and not is_spool_resource(path)  # the spool's: tests/infra/test_spool_synth.py
                        and path != "apis-propagated")  # the stack's: tests/infra/test_project_apis.py
        assert owners == sorted(stream.name for stream in STREAMS), resource_type
    # Metrics and the dashboard: tests/infra/test_observability.py; the spool's: tests/infra/test_spool_synth.py.
    spool_types = {"google_storage_bucket", "google_storage_bucket_iam_member", "google_project_iam_member",
                   "google_cloud_run_v2_job", "google_cloud_run_v2_job_iam_member", "google_cloud_scheduler_job"}
    assert set(resources) == {*expected_per_stream, "google_bigquery_dataset", "google_project_iam_custom_role",
                              "google_logging_metric", "google_monitoring_dashboard", *spool_types,
                              "google_project_service"}  # the stack's APIs: tests/infra/test_project_apis.py


def test_providers_and_project_come_from_config(shipped: Synth) -> None:
    for stack in (REGISTRY_STACK, STREAMS_STACK):
        google = shipped.stacks[stack]["provider"]["google"]
        assert google == [{"project": CONFIG.project, "region": CONFIG.region}]
    assert set(shipped.stacks[STREAMS_STACK]["provider"]) == {"google", "random", "time"}
    for stack in (REGISTRY_STACK, STREAMS_STACK):
        # `removed` blocks need Terraform 1.7 (README and docs/deploy.md say the same).
        assert shipped.stacks[stack]["terraform"]["required_version"] == ">= 1.7"
    required = shipped.stacks[STREAMS_STACK]["terraform"]["required_providers"]
    # Each engine's bindings pin their own provider version (infra/engine/differences.py says why both
    # sources name registry.terraform.io/hashicorp/google).
    expected = {"cdktf": ("google", "6.50.0"), "terrain": ("hashicorp/google", "8.7.0")}[selected_engine().name]
    assert (required["google"]["source"], required["google"]["version"]) == expected


def test_one_shared_registry_in_its_own_stack(shipped: Synth) -> None:
    registry = shipped.stacks[REGISTRY_STACK]["resource"]
    # Besides the repository: its APIs and the wait after them (tests/infra/test_project_apis.py).
    assert sorted(registry) == ["google_artifact_registry_repository", "google_project_service", "time_sleep"]
    (repository,) = registry["google_artifact_registry_repository"].values()
    assert (repository["repository_id"], repository["format"], repository["location"]) == (
        REGISTRY_REPOSITORY_ID, "DOCKER", CONFIG.region)
    # The last 10 images stay (the deployed one among them); others go once 30 days old.
    assert repository["cleanup_policy_dry_run"] is False
    assert repository["cleanup_policies"] == [
        {"id": "keep-recent-releases", "action": "KEEP", "most_recent_versions": {"keep_count": 10}},
        {"id": "delete-older-images", "action": "DELETE",
         "condition": {"tag_state": "ANY", "older_than": "2592000s"}},
    ]
    output = shipped.stacks[REGISTRY_STACK]["output"]["image_repository"]["value"]
    assert output.startswith(f"{CONFIG.region}-docker.pkg.dev/{CONFIG.project}/")


def test_streams_sharing_a_dataset_create_it_once(shipped: Synth, varied: Synth) -> None:
    (crm,) = shipped.resources(STREAMS_STACK, "google_bigquery_dataset").values()
    assert {stream.dataset for stream in STREAMS} == {"crm"}
    assert (crm["dataset_id"], crm["location"], crm["labels"]) == ("crm", "EU", {"source": "crm"})
    assert crm["delete_contents_on_destroy"] is False
    datasets = {body["dataset_id"]: body
                for body in varied.resources(STREAMS_STACK, "google_bigquery_dataset").values()}
    assert set(datasets) == {"shop", "pings"}
    assert datasets["shop"]["location"] == "europe-west3"
    assert datasets["shop"]["labels"] == {"team": "growth", "cost-center": "b1"}  # union of both streams
    assert datasets["pings"]["location"] == "US"
    assert all("access" not in body for body in datasets.values())  # no dataset-wide grants


def test_table_schema_partitioning_and_options(case: tuple[Synth, Stream]) -> None:
    synth, stream = case
    table = synth.resource(STREAMS_STACK, "google_bigquery_table", path(stream, "table"))
    options = stream.table_options
    assert json.loads(table["schema"]) == schema_json()
    assert table["table_id"] == stream.table
    dataset_key = next(body["_key"] for body in synth.resources(STREAMS_STACK, "google_bigquery_dataset").values()
                       if body["dataset_id"] == stream.dataset)
    assert table["dataset_id"] == f"${{google_bigquery_dataset.{dataset_key}.dataset_id}}"
    partitioning = table["time_partitioning"]
    assert (partitioning["type"], partitioning["field"]) == (PARTITION_TYPE, PARTITION_FIELD) == ("DAY", "date")
    if options.partition_expiration_days is None:
        # Explicit, so removing partition_expiration_days really removes the expiry (test_removed_settings).
        assert partitioning["expiration_ms"] == 0
    else:
        assert partitioning["expiration_ms"] == options.partition_expiration_days * 86_400_000
    assert table["require_partition_filter"] is options.require_partition_filter
    assert table.get("clustering", []) == list(options.clustering)
    assert table["deletion_protection"] is options.deletion_protection
    assert table["labels"] == {**dict(options.labels), "hookstream-stream": stream.name}


def test_each_stream_has_its_own_service_account(case: tuple[Synth, Stream]) -> None:
    synth, stream = case
    account = synth.resource(STREAMS_STACK, "google_service_account", path(stream, "sa"))
    assert account["account_id"] == StreamNames.of(stream).service_account_id
    assert 6 <= len(account["account_id"]) <= 30


@pytest.mark.parametrize("which", ["shipped", "varied"])
def test_one_writer_role_that_can_only_insert_rows(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    roles = synth.resources(STREAMS_STACK, "google_project_iam_custom_role")
    # The spool's two roles (create-only, replay) are asserted in tests/infra/test_spool_synth.py.
    assert set(roles) == {"writer-role", "dataset-reader-role", "spool-writer-role", "replay-table-role",
                          "replay-objects-role", "replay-list-role"}
    role = roles["writer-role"]
    # What Google's insertAll reference lists on the table (tests/infra/test_permissions.py): no getData.
    assert role["permissions"] == ["bigquery.tables.get", "bigquery.tables.updateData"]
    assert (role["role_id"], role["project"], role["stage"]) == ("hookstreamRowWriter", CONFIG.project, "GA")
    assert "google_project_iam_custom_role" not in synth.stacks[REGISTRY_STACK].get("resource", {})


def test_writer_role_id_comes_from_config() -> None:
    other = synthesize(VARIED_STREAMS[:1], CONFIG.__class__(**{**CONFIG.__dict__,
                                                               "writer_role_id": "hookstreamRowWriter2"}))
    roles = other.resources(STREAMS_STACK, "google_project_iam_custom_role")
    assert roles["writer-role"]["role_id"] == "hookstreamRowWriter2"
    # The spool's roles derive their ids from it, so two deployments in one project do not collide.
    assert roles["spool-writer-role"]["role_id"] == "hookstreamRowWriter2Spool"


def test_service_account_writes_only_its_own_table(case: tuple[Synth, Stream]) -> None:
    synth, stream = case
    grant = synth.resource(STREAMS_STACK, "google_bigquery_table_iam_member", path(stream, "table-writer"))
    assert grant["role"] == synth.ref(STREAMS_STACK, "google_project_iam_custom_role", "writer-role", "name")
    assert grant["member"] == synth.ref(STREAMS_STACK, "google_service_account", path(stream, "sa"), "member")
    table = path(stream, "table")
    assert grant["table_id"] == synth.ref(STREAMS_STACK, "google_bigquery_table", table, "table_id")
    assert grant["dataset_id"] == synth.ref(STREAMS_STACK, "google_bigquery_table", table, "dataset_id")
    assert grant["project"] == CONFIG.project


@pytest.mark.parametrize("which", ["shipped", "varied"])
def test_least_privilege(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    streams = STREAMS if which == "shipped" else VARIED_STREAMS
    for stack in synth.stacks.values():
        # The custom role is a definition, not a grant: it gives nobody anything until bound to a table.
        # The one project-level grant: the replay may run query jobs (jobs.create exists only per project;
        # it reads no data by itself). Checked exactly below.
        types = set(stack.get("resource", {})) - {"google_project_iam_custom_role", "google_project_iam_member"}
        broad = {t for t in types if t.startswith(("google_project_iam", "google_organization_iam",
                                                   "google_folder_iam")) or t.endswith(("_iam_binding",
                                                                                        "_iam_policy"))}
        assert not broad, f"project/folder/org-level or authoritative IAM: {broad}"
    def replay_of(stream: Stream, attribute: str = "member") -> str:
        return synth.ref(STREAMS_STACK, "google_service_account", path(stream, "replay-sa"), attribute)

    project_grants = sorted((body["role"], body["member"])
                            for body in synth.resources(STREAMS_STACK, "google_project_iam_member").values())
    assert project_grants == sorted(("roles/bigquery.jobUser", replay_of(stream)) for stream in streams)
    grants = set()
    for resource_type in ("google_bigquery_table_iam_member", "google_secret_manager_secret_iam_member",
                          "google_cloud_run_v2_service_iam_member", "google_storage_bucket_iam_member",
                          "google_cloud_run_v2_job_iam_member"):
        for body in synth.resources(STREAMS_STACK, resource_type).values():
            grants.add((resource_type, body["role"], body["member"]))
    assert not any(role.startswith("roles/bigquery.") for _, role, _ in grants), grants

    def role(key: str) -> str:
        return synth.ref(STREAMS_STACK, "google_project_iam_custom_role", key, "name")

    expected = set()
    for stream in streams:
        member = synth.ref(STREAMS_STACK, "google_service_account", path(stream, "sa"), "member")
        replay = replay_of(stream)
        expected |= {("google_bigquery_table_iam_member", role("writer-role"), member),
                     ("google_storage_bucket_iam_member", role("spool-writer-role"), member),
                     ("google_cloud_run_v2_service_iam_member", "roles/run.invoker", "allUsers"),
                     ("google_storage_bucket_iam_member", role("replay-objects-role"), replay),
                     ("google_storage_bucket_iam_member", role("replay-list-role"), replay),
                     ("google_bigquery_table_iam_member", role("replay-table-role"), replay),
                     ("google_cloud_run_v2_job_iam_member", "roles/run.invoker", replay)}
        if stream.auth.mode != "none":
            expected.add(("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor",
                          member))
    assert grants == expected
    # Dataset metadata (what insertAll checks on the dataset) for each stream's account and its replay's, and
    # nothing else on any dataset but the GA4 views' authorizations (test_attributed_synth).
    dataset_grants = {(body["role"], body["user_by_email"])
                      for body in synth.resources(STREAMS_STACK, "google_bigquery_dataset_access").values()
                      if "view" not in body}
    assert dataset_grants == {
        (role("dataset-reader-role"), email) for stream in streams for email in (
            synth.ref(STREAMS_STACK, "google_service_account", path(stream, "sa"), "email"),
            replay_of(stream, "email"))}
    # One grant of each kind per stream, not one shared grant.
    table_grants = synth.resources(STREAMS_STACK, "google_bigquery_table_iam_member")
    assert len(table_grants) == 2 * len(streams)  # the stream's writer, and the replay


def test_endpoint_secret_is_generated_at_deploy_time(secret_case: tuple[Synth, Stream]) -> None:
    synth, stream = secret_case
    secret = synth.resource(STREAMS_STACK, "google_secret_manager_secret", path(stream, "secret"))
    assert secret["secret_id"] == StreamNames.of(stream).secret_id
    assert secret["replication"] == {"auto": {}}
    version = synth.resource(STREAMS_STACK, "google_secret_manager_secret_version", path(stream, "secret-version"))
    assert version["secret"] == synth.ref(STREAMS_STACK, "google_secret_manager_secret", path(stream, "secret"), "id")
    assert version["lifecycle"] == {"ignore_changes": ["enabled"]}
    if stream.auth.mode == "standard-webhooks":
        random_bytes = synth.resource(STREAMS_STACK, "random_bytes", path(stream, "secret-bytes"))
        assert 24 <= random_bytes["length"] <= 64
        assert version["secret_data"] == "whsec_" + synth.ref(
            STREAMS_STACK, "random_bytes", path(stream, "secret-bytes"), "base64")
    else:
        password = synth.resource(STREAMS_STACK, "random_password", path(stream, "secret-value"))
        assert password["length"] >= 32 and password["special"] is False
        assert version["secret_data"] == synth.ref(
            STREAMS_STACK, "random_password", path(stream, "secret-value"), "result")
    reader = synth.resource(STREAMS_STACK, "google_secret_manager_secret_iam_member", path(stream, "secret-reader"))
    assert reader["role"] == "roles/secretmanager.secretAccessor"
    assert reader["secret_id"] == synth.ref(STREAMS_STACK, "google_secret_manager_secret", path(stream, "secret"),
                                            "id")
    assert reader["member"] == synth.ref(STREAMS_STACK, "google_service_account", path(stream, "sa"), "member")


def test_no_secret_value_in_the_synthesized_json(shipped: Synth, varied: Synth) -> None:
    for synth in (shipped, varied):
        for version in synth.resources(STREAMS_STACK, "google_secret_manager_secret_version").values():
            assert version["secret_data"].startswith(("${random_", "whsec_${random_"))


def test_no_auth_stream_has_no_secret_and_warns(varied: Synth) -> None:
    (stream,) = [s for s in VARIED_STREAMS if s.auth.mode == "none"]
    owners = {p.split("/")[0] for t in ("google_secret_manager_secret", "random_password", "random_bytes")
              for p in varied.resources(STREAMS_STACK, t)}
    assert stream.name not in owners
    service = varied.resource(STREAMS_STACK, "google_cloud_run_v2_service", path(stream, "service"))
    names = [env["name"] for env in service["template"]["containers"][0]["env"]]
    assert SECRETS not in names
    stream_warnings = [w for w in varied.warnings if "alert_emails" not in w]
    assert len(stream_warnings) == 1
    assert stream.name in stream_warnings[0] and "'none'" in stream_warnings[0]


def test_shipped_streams_raise_no_warning_but_the_missing_alert_recipients_once(shipped: Synth) -> None:
    assert shipped.warnings == [
        "this deployment has no alert_emails: no alert policies are deployed (metrics and the dashboard are); "
        "add recipients to be told when a stream stops storing hits"]


def test_cloud_run_service(case: tuple[Synth, Stream]) -> None:
    synth, stream = case
    service = synth.resource(STREAMS_STACK, "google_cloud_run_v2_service", path(stream, "service"))
    run = stream.run
    assert service["name"] == StreamNames.of(stream).cloud_run_service
    assert len(service["name"]) <= 49
    assert service["location"] == CONFIG.region
    assert service["ingress"] == "INGRESS_TRAFFIC_ALL"
    template = service["template"]
    assert template["service_account"] == synth.ref(STREAMS_STACK, "google_service_account", path(stream, "sa"),
                                                    "email")
    assert template["max_instance_request_concurrency"] == run.concurrency
    assert template["scaling"] == {"min_instance_count": run.min_instances, "max_instance_count": run.max_instances}
    assert template["timeout"] == f"{run.request_timeout_seconds}s"
    (container,) = template["containers"]
    assert container["image"] == CONFIG.image
    assert container["ports"] == {"container_port": 8080}
    assert container["resources"]["limits"] == {"cpu": run.cpu, "memory": run.memory}
    for probe in ("startup_probe", "liveness_probe"):
        assert container[probe]["http_get"]["path"] == "/health", probe  # /healthz is reserved by Cloud Run
        assert container[probe]["http_get"]["port"] == 8080


def test_cloud_run_environment_is_what_the_service_reads(case: tuple[Synth, Stream]) -> None:
    synth, stream = case
    service = synth.resource(STREAMS_STACK, "google_cloud_run_v2_service", path(stream, "service"))
    env = service["template"]["containers"][0]["env"]
    plain = {item["name"]: item["value"] for item in env if "value" in item}
    # The spool's URL comes beside the spec's variables (infra/spool_resources.py, test_spool_synth.py).
    assert plain.pop(SPOOL_URL) == f"gs://hookstream-ci-test-hookstream-spool/spool/{stream.name}/"
    # Read back by the service's own reader; every expected value is the stream's declared setting.
    spec = from_env(plain)
    assert (spec.stream, spec.project, spec.dataset, spec.table) == (stream.name, CONFIG.project, stream.dataset,
                                                                      stream.table)
    assert (spec.time_zone, spec.max_body_bytes, spec.auth) == (stream.time_zone, stream.max_body_bytes, stream.auth)
    assert spec.threads == stream.run.concurrency  # gunicorn threads = the Cloud Run concurrency
    assert (spec.write_deadline_seconds, spec.read_timeout_seconds) == (10.0, 10.0)
    from_secrets = {item["name"]: item["value_source"] for item in env if "value_source" in item}
    if stream.auth.mode == "none":
        assert from_secrets == {}
    else:
        assert [item["name"] for item in env][-1] == SECRETS
        secret_ref = synth.ref(STREAMS_STACK, "google_secret_manager_secret", path(stream, "secret"), "secret_id")
        assert from_secrets == {SECRETS: {"secret_key_ref": {"secret": secret_ref, "version": "latest"}}}


def test_the_shipped_orders_service_gets_exactly_these_variables(shipped: Synth) -> None:
    service = shipped.resource(STREAMS_STACK, "google_cloud_run_v2_service", "crm-orders/crm-orders-service")
    plain = {item["name"]: item["value"] for item in service["template"]["containers"][0]["env"] if "value" in item}
    assert plain == {
        "HOOKSTREAM_ENV_VERSION": "3",
        "HOOKSTREAM_STREAM": "crm-orders",
        "HOOKSTREAM_PROJECT": CONFIG.project,
        "HOOKSTREAM_DATASET": "crm",
        "HOOKSTREAM_TABLE": "orders",
        "HOOKSTREAM_TIME_ZONE": "Europe/Berlin",
        "HOOKSTREAM_MAX_BODY_BYTES": "1048576",
        "HOOKSTREAM_AUTH": '{"handshake": "none", "mode": "token"}',
        "HOOKSTREAM_THREADS": "80",
        "HOOKSTREAM_WRITE_DEADLINE_SECONDS": "10.0",
        "HOOKSTREAM_READ_TIMEOUT_SECONDS": "10.0",
        "HOOKSTREAM_ANSWER_BUDGET_SECONDS": "2.0",
        "HOOKSTREAM_KEEP_HEADERS": "[]",
        "HOOKSTREAM_SPOOL_URL": "gs://hookstream-ci-test-hookstream-spool/spool/crm-orders/",
    }


def test_public_invoker(case: tuple[Synth, Stream]) -> None:
    synth, stream = case
    invoker = synth.resource(STREAMS_STACK, "google_cloud_run_v2_service_iam_member", path(stream, "public-invoker"))
    assert (invoker["role"], invoker["member"]) == ("roles/run.invoker", "allUsers")
    assert invoker["name"] == synth.ref(STREAMS_STACK, "google_cloud_run_v2_service", path(stream, "service"), "name")


def test_outputs(case: tuple[Synth, Stream]) -> None:
    synth, stream = case
    names = StreamNames.of(stream)
    outputs = synth.stacks[STREAMS_STACK]["output"]
    uri = synth.ref(STREAMS_STACK, "google_cloud_run_v2_service", path(stream, "service"), "uri")
    url = outputs[names.endpoint_url_output]
    assert url["sensitive"] is True
    if stream.auth.mode == "token":
        secret = synth.ref(STREAMS_STACK, "random_password", path(stream, "secret-value"), "result")
        assert url["value"] == f"{uri}/hooks/{secret}"
    else:
        assert url["value"] == f"{uri}/hooks"
    table = path(stream, "table")
    assert outputs[names.table_id_output]["value"] == (
        f"{CONFIG.project}."
        f"{synth.ref(STREAMS_STACK, 'google_bigquery_table', table, 'dataset_id')}."
        f"{synth.ref(STREAMS_STACK, 'google_bigquery_table', table, 'table_id')}")
    assert outputs[names.service_account_output]["value"] == synth.ref(
        STREAMS_STACK, "google_service_account", path(stream, "sa"), "email")
    assert outputs[names.table_id_output]["sensitive"] is False


def test_state_bucket_selects_a_gcs_backend(shipped: Synth) -> None:
    assert "backend" not in shipped.stacks[STREAMS_STACK]["terraform"]
    with_bucket = synthesize(VARIED_STREAMS[:1], CONFIG.__class__(**{**CONFIG.__dict__,
                                                                     "state_bucket": "hookstream-ci-state"}))
    for stack in (REGISTRY_STACK, STREAMS_STACK):
        backend = with_bucket.stacks[stack]["terraform"]["backend"]
        assert backend == {"gcs": {"bucket": "hookstream-ci-state", "prefix": f"hookstream/{stack}"}}


def test_the_orders_stream_gets_its_latest_view(shipped: Synth) -> None:
    views = {body["table_id"]: body for body in shipped.resources(STREAMS_STACK, "google_bigquery_table").values()
             if "view" in body}
    assert set(views) == {"orders_latest"}  # only crm-orders declares one (infra/streams.py)
    view = views["orders_latest"]
    assert view["view"]["use_legacy_sql"] is False
    query = view["view"]["query"]
    # What the declaration says, in the deployed text (the SQL's results are checked in the emulator by
    # tests/infra/test_latest_view.py): the deploy project's table, the declared fields, key and version.
    assert f"FROM `{CONFIG.project}.crm.orders`" in query
    assert "SELECT\n  `orderId`,\n" in query  # the key, then each declared field, latest non-null first
    for name in ("status", "total", "currency", "userId", "createdAt", "updatedAt"):
        assert f"LAST_VALUE(`{name}` IGNORE NULLS) OVER (" in query, name
    assert ("`hit_id`, `received_at`, `date`,\n"
            "  MIN(`received_at`) OVER (PARTITION BY `orderId`) AS `first_received_at`\nFROM parsed") in query
    assert "PARTITION BY `orderId`" in query
    assert "ORDER BY COALESCE(`updatedAt`, TIMESTAMP_MILLIS(`received_at`)) DESC" in query
    assert "PARTITION BY COALESCE(`delivery_id`, `hit_id`)" in query  # a CRM's retried delivery counts once
    table_key = shipped.resource(STREAMS_STACK, "google_bigquery_table", "crm-orders/crm-orders-table")["_key"]
    assert f"google_bigquery_table.{table_key}" in view["depends_on"]
