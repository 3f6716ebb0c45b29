"""A Cloud Run job of the webhook image, run as its own account, and the Cloud Scheduler job that starts it:
the shape the replay (infra/spool_resources.py) and the Google Ads upload (infra/ads_resources.py) share."""

from __future__ import annotations

from collections.abc import Mapping

from constructs import Construct

from infra.config import DeployConfig
from infra.engine import providers as gcp

RUN_INVOKER_ROLE = "roles/run.invoker"


def run_job(scope: Construct, construct_id: str, config: DeployConfig, name: str, account: gcp.ServiceAccount,
            command: list[str], env: Mapping[str, str], labels: dict[str, str],
            grants_propagated: gcp.TimeSleep, secrets: Mapping[str, str] | None = None) -> gcp.CloudRunV2Job:
    """One task, no retries within a run (the next scheduled run is the retry), 30 minutes at most.
    `secrets`: env name -> Secret Manager secret id, its latest version read by Cloud Run at start."""
    secret_env = [gcp.CloudRunV2JobTemplateTemplateContainersEnv(
        name=key, value_source=gcp.CloudRunV2JobTemplateTemplateContainersEnvValueSource(
            secret_key_ref=gcp.CloudRunV2JobTemplateTemplateContainersEnvValueSourceSecretKeyRef(
                secret=secret, version="latest")))
        for key, secret in (secrets or {}).items()]
    return gcp.CloudRunV2Job(
        scope, construct_id,
        name=name,
        location=config.region,
        deletion_protection=False,  # stateless: what the job works on lives in buckets and tables
        labels=labels,
        template=gcp.CloudRunV2JobTemplate(
            task_count=1,
            parallelism=1,
            labels=labels,
            template=gcp.CloudRunV2JobTemplateTemplate(
                service_account=account.email,
                max_retries=0,
                timeout="1800s",
                containers=[gcp.CloudRunV2JobTemplateTemplateContainers(
                    image=config.image,
                    command=command,
                    env=[*(gcp.CloudRunV2JobTemplateTemplateContainersEnv(name=key, value=value)
                           for key, value in env.items()), *secret_env],
                    resources=gcp.CloudRunV2JobTemplateTemplateContainersResources(
                        limits={"cpu": "1", "memory": "512Mi"}),
                )],
            ),
        ),
        depends_on=[grants_propagated],
    )


def schedule_job(scope: Construct, construct_prefix: str, config: DeployConfig, job: gcp.CloudRunV2Job,
                 job_name: str, account: gcp.ServiceAccount, schedule: str, description: str) -> gcp.CloudSchedulerJob:
    """`account` may run `job` (and nothing else), and Cloud Scheduler starts it as `account` on `schedule` (UTC)."""
    invoker = gcp.CloudRunV2JobIamMember(
        scope, f"{construct_prefix}-invoker",
        project=config.project,
        location=job.location,
        name=job.name,
        role=RUN_INVOKER_ROLE,
        member=account.member,
    )
    return gcp.CloudSchedulerJob(
        scope, f"{construct_prefix}-schedule",
        name=job_name,
        region=config.region,
        description=description,
        schedule=schedule,
        time_zone="Etc/UTC",
        attempt_deadline="60s",
        retry_config=gcp.CloudSchedulerJobRetryConfig(retry_count=0),
        http_target=gcp.CloudSchedulerJobHttpTarget(
            http_method="POST",
            uri=(f"https://run.googleapis.com/v2/projects/{config.project}/locations/"
                 f"{config.region}/jobs/{job_name}:run"),
            oauth_token=gcp.CloudSchedulerJobHttpTargetOauthToken(service_account_email=account.email),
        ),
        depends_on=[invoker],
    )
