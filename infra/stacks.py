"""The two Terraform stacks: the image registry, and the streams that run images from it.

They are separate because the image must be pushed between them: Cloud Run refuses a service whose
image does not exist yet. First deploy: `hookstream-registry`, then scripts/build-image, then
`hookstream` (docs/deploy.md).
"""

from __future__ import annotations

from constructs import Construct

from infra.ads_resources import AdsUploads, ads_apis, any_ads
from infra.config import DeployConfig
from infra.custom_roles import custom_role
from infra.engine import providers as gcp
from infra.engine.core import GcsBackend, TerraformOutput, TerraformStack
from infra.forget_retired import forget_retired
from infra.naming import REGISTRY_REPOSITORY_ID, StreamNames
from infra.observability import build_observability
from infra.permissions import IDENTITIES, STREAM_WRITER, Scope, role_permissions
from infra.project_apis import enable_apis
from infra.retired import RetiredStream, dataset_construct_id
from infra.spool_resources import SpoolResources
from infra.stream_resources import StreamResources, StreamRoles
from service.model.stream import Stream

# The registry keeps the last KEPT_IMAGES images (the deployed one and the ones to roll back to) and deletes
# the others once they are IMAGE_MIN_AGE_DAYS old.
KEPT_IMAGES = 10
IMAGE_MIN_AGE_DAYS = 30
# scripts/build-image runs Cloud Build between the two stacks: not a Terraform resource, so named here.
BUILD_APIS = ("cloudbuild.googleapis.com",)
# `removed` blocks (infra/forget_retired.py) need Terraform 1.7; older versions fail on them mid-plan.
REQUIRED_TERRAFORM = ">= 1.7"


def _use_state_bucket(stack: TerraformStack, name: str, config: DeployConfig) -> None:
    stack.add_override("terraform.required_version", REQUIRED_TERRAFORM)
    # Without a bucket cdktf keeps terraform.<stack>.tfstate locally; it holds the endpoint secrets.
    if config.state_bucket:
        GcsBackend(stack, bucket=config.state_bucket, prefix=f"hookstream/{name}")


class RegistryStack(TerraformStack):
    """The Artifact Registry repository the webhook image is pushed to (one for all streams)."""

    def __init__(self, scope: Construct, id: str, config: DeployConfig) -> None:
        super().__init__(scope, id)
        _use_state_bucket(self, id, config)
        gcp.GoogleProvider(self, "google", project=config.project, region=config.region)
        gcp.TimeProvider(self, "time")
        self.repository = gcp.ArtifactRegistryRepository(
            self, "registry",
            repository_id=REGISTRY_REPOSITORY_ID,
            format="DOCKER",
            location=config.region,
            description="hookstream webhook service images (scripts/build-image pushes here)",
            # Every release builds one image and deploys exactly it, so the newest versions include the one
            # running; older ones only cost storage. KEEP wins over DELETE in Artifact Registry's policies.
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                gcp.ArtifactRegistryRepositoryCleanupPolicies(
                    id="keep-recent-releases", action="KEEP",
                    most_recent_versions=gcp.ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions(
                        keep_count=KEPT_IMAGES)),
                gcp.ArtifactRegistryRepositoryCleanupPolicies(
                    id="delete-older-images", action="DELETE",
                    condition=gcp.ArtifactRegistryRepositoryCleanupPoliciesCondition(
                        tag_state="ANY", older_than=f"{IMAGE_MIN_AGE_DAYS * 86_400}s")),
            ],
        )
        TerraformOutput(self, "image_repository",
                        value=f"{config.registry_host}/{config.project}/{self.repository.repository_id}",
                        description="Push the webhook image here; "
                                    "set HOOKSTREAM_IMAGE to <this>/hookstream:<tag>")
        self.apis_ready = enable_apis(self, config.project, extra=BUILD_APIS)


class StreamsStack(TerraformStack):
    """Per-dataset BigQuery datasets and one StreamResources per stream."""

    def __init__(self, scope: Construct, id: str, streams: tuple[Stream, ...], config: DeployConfig,
                 names: dict[str, StreamNames], retired: tuple[RetiredStream, ...] = ()) -> None:
        super().__init__(scope, id)
        _use_state_bucket(self, id, config)
        gcp.GoogleProvider(self, "google", project=config.project, region=config.region)
        gcp.RandomProvider(self, "random")
        gcp.TimeProvider(self, "time")
        roles = StreamRoles(table_writer=self._writer_role(config), dataset_reader=self._dataset_reader_role(config))
        self.writer_role = roles.table_writer
        self.datasets = self._datasets(streams)
        self.spool = SpoolResources(self, config, roles.dataset_reader)
        self.streams = {
            stream.name: StreamResources(self, stream.name, stream, config, self.datasets[stream.dataset],
                                         names[stream.name], roles, spool_url=self.spool.spool_url(stream.name))
            for stream in streams
        }
        for resources in self.streams.values():
            self.spool.add_stream(resources)
        # The Google Ads uploads (docs/ads.md), only when a stream declares ads.
        self.ads = AdsUploads(self, config, self.spool.replay_role, roles.dataset_reader) if any_ads(streams) else None
        for resources in self.streams.values():
            if self.ads is not None:
                self.ads.add_stream(resources)
        # Metrics and the dashboard always; alert policies to the environment's alert_emails.
        self.observability = build_observability(self, streams, config, names)
        self.ads_alerts = self.ads.observe(self, streams, self.observability.channels) if self.ads else []
        # Retired streams' tables (and datasets left empty of streams) leave state, keeping their rows.
        self.forgotten = forget_retired(self, retired, set(self.datasets))
        # Last: it makes every resource defined above wait for its API.
        # The upload job calls the Data Manager API, which no Terraform resource here manages.
        self.apis_ready = enable_apis(self, config.project, extra=ads_apis(streams))

    def _writer_role(self, config: DeployConfig) -> gcp.ProjectIamCustomRole:
        # One role per deployment (a role lives in the project; granting it happens per table, in
        # StreamResources). Creating it needs roles/iam.roleAdmin for the deployer (docs/deploy.md).
        return custom_role(
            self, "writer-role", config, "",
            title="hookstream row writer",
            description="Insert rows into a table (BigQuery insertAll) and nothing else: no reading, "
                        "no schema change, no delete. Granted per table to each hookstream stream's "
                        "service account.",
            permissions=role_permissions(STREAM_WRITER, Scope.TABLE),
        )

    def _dataset_reader_role(self, config: DeployConfig) -> gcp.ProjectIamCustomRole:
        # insertAll checks bigquery.datasets.get on the dataset: granted per dataset, to the streams' accounts
        # and the replay's. Every identity needs the same dataset permissions (tests/infra/test_permissions.py).
        return custom_role(
            self, "dataset-reader-role", config, "Dataset",
            title="hookstream dataset metadata reader",
            description="Read a dataset's metadata (what insertAll checks on the dataset); no table, no row.",
            permissions=sorted({p for identity in IDENTITIES for p in role_permissions(identity, Scope.DATASET)}),
        )

    def _datasets(self, streams: tuple[Stream, ...]) -> dict[str, gcp.BigqueryDataset]:
        # Several streams may share a dataset: create each once (naming.check_dataset_agreement made
        # sure they agree on location and labels).
        datasets: dict[str, gcp.BigqueryDataset] = {}
        for stream in streams:
            labels = dict(stream.table_options.labels)
            if stream.dataset in datasets:
                continue
            for other in streams:
                if other.dataset == stream.dataset:
                    labels.update(other.table_options.labels)
            datasets[stream.dataset] = gcp.BigqueryDataset(
                self, dataset_construct_id(stream.dataset),
                dataset_id=stream.dataset,
                location=stream.table_options.location,
                labels=labels or None,
                description="hookstream: CRM webhook tables",
                # Never drop rows with `cdktf destroy`: tables keep their own deletion protection too.
                delete_contents_on_destroy=False,
            )
        return datasets
