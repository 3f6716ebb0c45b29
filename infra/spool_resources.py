"""The spool on Google Cloud: one bucket per deployment, create-only grants per stream, and the replay.

What BigQuery cannot take, each stream's endpoint writes under its own prefix of the bucket
(service/runtime/spool.py); a Cloud Run job of the same image per stream, started by Cloud Scheduler,
writes those rows to the table and deletes them (service/runtime/replay.py). docs/spool.md says why
each grant is what it is.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import DeployConfig
from infra.custom_roles import custom_role
from infra.engine import providers as gcp
from infra.engine.core import ITerraformDependable
from infra.limits import SERVICE_ACCOUNT_DESCRIPTION_BYTES, fit_bytes
from infra.permissions import REPLAY, STREAM_WRITER, Scope, role_permissions
from infra.propagation import IAM_PROPAGATION, wait_after
from infra.scheduled_jobs import run_job, schedule_job
from infra.stream_resources import StreamResources
from service.model.service_env import SPOOL_URL, ServiceSpec, to_env
from service.model.spool import spool_bucket_name, spool_prefix, spool_url
from service.runtime.spool import SpoolLocation

# Long enough to outlive a long incident plus a forgotten replay; the lifecycle rule deletes what is older
# (an alert on the spool's age should have fired weeks before, docs/spool.md).
SPOOL_DAYS = 30
# A delete (the replay's, or a person's by mistake) stays recoverable this long. Not a retention policy:
# that would refuse the replay's own delete of a row already in BigQuery, and the spool could never empty.
SOFT_DELETE_SECONDS = 7 * 24 * 60 * 60
# Queries run as jobs, and jobs.create exists only at project level; it gives no access to any data.
# The custom roles' permissions come from infra/permissions.py.
REPLAY_JOB_ROLE = "roles/bigquery.jobUser"
REPLAY_SCHEDULE = "*/5 * * * *"


# (construct id, role id suffix, title, description, whose permissions, at which scope)
SPOOL_ROLES = (
    ("spool-writer-role", "Spool", "hookstream spool writer",
     "Create objects (create-only uploads) and nothing else: no read, no list, no overwrite, no delete. "
     "Granted on the spool bucket to each stream's account, for its own prefix.", STREAM_WRITER, Scope.SPOOL_PREFIX),
    ("replay-table-role", "Replay", "hookstream spool replay",
     "Look up which hit_ids a table holds and insert the missing rows; no schema change, no delete. Granted "
     "per table to that stream's replay account.", REPLAY, Scope.TABLE),
    ("replay-objects-role", "ReplayObjects", "hookstream spool replay (objects)",
     "Read, create (the lease) and delete spool objects; no metadata update, no IAM. Granted on the spool "
     "bucket to each stream's replay account, for its own objects.", REPLAY, Scope.SPOOL_PREFIX),
    ("replay-list-role", "ReplayList", "hookstream spool replay (list)",
     "List the spool bucket's object names (not their content). Granted on the spool bucket to each "
     "stream's replay account.", REPLAY, Scope.BUCKET),
)


def replay_job_name(stream_name: str) -> str:
    return f"hookstream-replay-{stream_name}"


class SpoolResources:
    """The deployment's spool bucket and its custom roles, as direct children of the stack (deployment-level,
    like the writer role); `add_stream` puts one stream's spool grant, its replay identity and that
    identity's grants, replay job and schedule inside the stream's construct, so plans and scripts/review
    show them with the stream."""

    def __init__(self, scope: Construct, config: DeployConfig, dataset_reader_role: gcp.ProjectIamCustomRole) -> None:
        self.config = config
        self.dataset_reader_role = dataset_reader_role
        self.bucket_name = spool_bucket_name(config.project)
        self.bucket = gcp.StorageBucket(
            scope, "spool-bucket",
            name=self.bucket_name,
            location=config.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            # Hits of customers' orders: never destroyed with the stack while rows may wait in it.
            force_destroy=False,
            lifecycle_rule=[gcp.StorageBucketLifecycleRule(
                action=gcp.StorageBucketLifecycleRuleAction(type="Delete"),
                condition=gcp.StorageBucketLifecycleRuleCondition(age=SPOOL_DAYS),
            )],
            soft_delete_policy=gcp.StorageBucketSoftDeletePolicy(retention_duration_seconds=SOFT_DELETE_SECONDS),
            labels={"hookstream": "spool"},
        )
        roles = {construct_id: custom_role(scope, construct_id, config, suffix, title=title, description=description,
                                           permissions=role_permissions(identity, where))
                 for construct_id, suffix, title, description, identity, where in SPOOL_ROLES}
        self.writer_role, self.replay_role = roles["spool-writer-role"], roles["replay-table-role"]
        self.replay_objects_role, self.replay_list_role = roles["replay-objects-role"], roles["replay-list-role"]

    def spool_url(self, stream_name: str) -> str:
        return spool_url(self.bucket_name, stream_name)

    def add_stream(self, resources: StreamResources) -> None:
        name = resources.stream.name
        prefix = spool_prefix(name)
        # An IAM condition on the object name: the stream can create objects under its own prefix only.
        gcp.StorageBucketIamMember(
            resources, f"{name}-spool-writer",
            bucket=self.bucket.name,
            role=self.writer_role.name,
            member=resources.service_account.member,
            condition=gcp.StorageBucketIamMemberCondition(
                title=f"spool of {name}"[:100],
                description=f"Only objects under {prefix}",
                expression=f'resource.name.startsWith("{self._object_path(prefix)}")',
            ),
        )
        replay = self._replay_identity(resources)
        job = self._replay_job(resources, replay, wait_after(
            resources, f"{name}-replay-grants-propagated", self._replay_grants(resources, replay), IAM_PROPAGATION))
        self._replay_schedule(resources, replay, job)

    def _object_path(self, object_name: str) -> str:
        return f"projects/_/buckets/{self.bucket_name}/objects/{object_name}"

    def _replay_identity(self, resources: StreamResources) -> gcp.ServiceAccount:
        name = resources.stream.name
        # One account per stream: a replay reads and deletes only its own stream's spool and writes only its
        # own table, so one stream's bad object or bug cannot touch another's hits.
        return gcp.ServiceAccount(
            resources, f"{name}-replay-sa",
            account_id=resources.names.replay_service_account_id,
            display_name=f"hookstream replay {name}"[:100],
            description=fit_bytes(f"Runs the hookstream replay job of stream {name}: reads and deletes its "
                                  f"spooled hits, writes them to {resources.stream.table_ref}; Cloud Scheduler "
                                  "starts the job as this account.", SERVICE_ACCOUNT_DESCRIPTION_BYTES),
        )

    def _replay_grants(self, resources: StreamResources, replay: gcp.ServiceAccount) -> list[ITerraformDependable]:
        name = resources.stream.name
        prefix = spool_prefix(name)
        location = SpoolLocation.parse(spool_url(self.bucket_name, name))
        lease, quarantine = location.lock_name, location.quarantine_prefix
        objects = gcp.StorageBucketIamMember(
            resources, f"{name}-replay-objects",
            bucket=self.bucket.name,
            role=self.replay_objects_role.name,
            member=replay.member,
            condition=gcp.StorageBucketIamMemberCondition(
                title=f"replay of {name}"[:100],
                description=f"Only objects under {prefix} and {quarantine}, and the lease {lease}",
                # Not startsWith(".../spool/<name>"): that would also match the stream "<name>-other".
                expression=(f'resource.name.startsWith("{self._object_path(prefix)}") || '
                            f'resource.name.startsWith("{self._object_path(quarantine)}") || '
                            f'resource.name == "{self._object_path(lease)}"'),
            ),
        )
        # objects.list is checked on the bucket, which no object-name condition matches: the replay may list
        # every stream's object names (hit ids and times, no content), and read none of them but its own.
        listing = gcp.StorageBucketIamMember(
            resources, f"{name}-replay-list",
            bucket=self.bucket.name,
            role=self.replay_list_role.name,
            member=replay.member,
        )
        table = gcp.BigqueryTableIamMember(
            resources, f"{name}-replay-table-access",
            project=self.config.project,
            dataset_id=resources.table.dataset_id,
            table_id=resources.table.table_id,
            role=self.replay_role.name,
            member=replay.member,
        )
        dataset = gcp.BigqueryDatasetAccess(
            resources, f"{name}-replay-dataset-reader",
            dataset_id=resources.table.dataset_id,
            role=self.dataset_reader_role.name,
            user_by_email=replay.email,
        )
        jobs = gcp.ProjectIamMember(
            resources, f"{name}-replay-job-user",
            project=self.config.project,
            role=REPLAY_JOB_ROLE,
            member=replay.member,
        )
        return [objects, listing, table, dataset, jobs]

    def _replay_job(self, resources: StreamResources, replay: gcp.ServiceAccount,
                    grants_propagated: gcp.TimeSleep) -> gcp.CloudRunV2Job:
        stream, name = resources.stream, resources.stream.name
        env = {**to_env(ServiceSpec.of(stream, self.config.project)), SPOOL_URL: self.spool_url(name)}
        # A failed run is retried by the next scheduled one, 5 minutes later; the rows wait in the bucket.
        return run_job(resources, f"{name}-replay-job", self.config, replay_job_name(name), replay,
                       ["python", "-m", "service.runtime.replay"], env, resources.labels, grants_propagated)

    def _replay_schedule(self, resources: StreamResources, replay: gcp.ServiceAccount,
                         job: gcp.CloudRunV2Job) -> gcp.CloudSchedulerJob:
        name = resources.stream.name
        # The stream's name only in the description: a table path may be far longer than it may be.
        return schedule_job(resources, f"{name}-replay", self.config, job, replay_job_name(name), replay,
                            REPLAY_SCHEDULE, f"Replays the spooled hits of hookstream stream {name} into its table")
