"""Where the deployment lives: project, region, image, state bucket. Never hard-coded in the stack.

Two ways to say it:
- Environments (`infra/environments.py`): the same reviewed streams deployed to several projects
  (staging, production), each with its own project, region, state, stack names, minimum instances and
  alert recipients. `HOOKSTREAM_ENV` (or context `hookstream:env`) names the one to synthesize; with
  more than one configured, synth refuses to guess. Only the image comes from the shell, per build.
- No environments configured: one deployment, each setting from the shell (`HOOKSTREAM_GCP_PROJECT`,
  ...) or, failing that, from cdktf context (`"context": {"hookstream:project": ...}` in cdktf.json).

A missing or malformed setting fails synth before any resource is built, naming what to set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

# Not HOOKSTREAM_PROJECT: that name is the service's own setting (service/model/service_env.py).
PROJECT_ENV = "HOOKSTREAM_GCP_PROJECT"
REGION_ENV = "HOOKSTREAM_REGION"
IMAGE_ENV = "HOOKSTREAM_IMAGE"
STATE_BUCKET_ENV = "HOOKSTREAM_STATE_BUCKET"
WRITER_ROLE_ID_ENV = "HOOKSTREAM_WRITER_ROLE_ID"
# The project's custom role that lets a stream's account insert rows (infra/stacks.py). The id is fixed
# so every deploy updates the same role; a deleted role's id stays taken for 7 to 37 days, so a
# redeploy in that window needs another id (docs/deploy.md, "The writer role").
DEFAULT_WRITER_ROLE_ID = "hookstreamRowWriter"
# The deployment's custom roles: writer_role_id plus each suffix (infra/stacks.py, infra/spool_resources.py).
# Google refuses a role id over 64 characters, at apply time; the longest is checked here, at synth.
ROLE_ID_SUFFIXES = ("", "Dataset", "Spool", "Replay", "ReplayObjects", "ReplayList", "AdsView")
MAX_ROLE_ID_CHARS = 64
# GitHub Actions (and most CI systems) set CI=true: there, local Terraform state would be lost with the runner.
CI_ENV = "CI"
# "true": Cloud Run's invoker check off (invoker_iam_disabled) instead of an allUsers binding.
INVOKER_IAM_DISABLED_ENV = "HOOKSTREAM_INVOKER_IAM_DISABLED"
ENV_NAME_ENV = "HOOKSTREAM_ENV"
ENV_NAME_CONTEXT = "hookstream:env"

PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
# registry host / path [: tag] [@ digest]; a typo here would only surface as a failed Cloud Run revision.
IMAGE = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]{1,128})?(@sha256:[0-9a-f]{64})?$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
ROLE_ID = re.compile(r"^[A-Za-z0-9_.]{3,64}$")
# Part of stack names, state prefixes and cdktf.out/<env>: short, lowercase.
ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """The deployment settings are missing or malformed; the message says what to set and how."""


@dataclass(frozen=True)
class Setting:
    field: str
    env: str
    context_key: str
    example: str
    pattern: re.Pattern[str]
    rule: str
    required: bool = True

    def where(self) -> str:
        return f"{self.env} (or context {self.context_key!r} in cdktf.json)"


SETTINGS = (
    Setting("project", PROJECT_ENV, "hookstream:project", "my-analytics-prod", PROJECT_ID,
            "a Google Cloud project id: 6-30 lowercase letters, digits or '-', starting with a letter"),
    Setting("region", REGION_ENV, "hookstream:region", "europe-west3", REGION,
            "a Cloud Run region such as 'europe-west3' or 'us-central1'"),
    Setting("image", IMAGE_ENV, "hookstream:image",
            "europe-west3-docker.pkg.dev/my-analytics-prod/hookstream/hookstream:3f2c1ab", IMAGE,
            "an image reference such as REGION-docker.pkg.dev/PROJECT/hookstream/hookstream:TAG "
            "(scripts/build-image prints it)"),
    Setting("state_bucket", STATE_BUCKET_ENV, "hookstream:stateBucket", "my-analytics-prod-tfstate", BUCKET,
            "a Cloud Storage bucket name for Terraform state", required=False),
    Setting("writer_role_id", WRITER_ROLE_ID_ENV, "hookstream:writerRoleId", "hookstreamRowWriter2", ROLE_ID,
            "a custom role id: 3-64 letters, digits, '_' or '.' (no '-')", required=False),
)


@dataclass(frozen=True)
class DeployConfig:
    """Validated deployment settings shared by every stack and every stream."""

    project: str
    region: str
    image: str
    # Terraform state holds the generated endpoint secrets: keep it in a bucket, not on a laptop.
    state_bucket: str | None = None
    writer_role_id: str = DEFAULT_WRITER_ROLE_ID
    # None: the single deployment of the shell's settings (stacks 'hookstream-registry', 'hookstream').
    environment: str | None = None
    # Overrides every stream's RunOptions.min_instances here (e.g. 0 in staging); None keeps the streams'.
    min_instances: int | None = None
    # Who gets an email when a stream's endpoint answers 5xx (its writes to BigQuery are failing).
    alert_emails: tuple[str, ...] = ()
    # True: the services disable Cloud Run's invoker IAM check instead of granting run.invoker to allUsers,
    # which organisations enforcing domain-restricted sharing refuse (docs/deploy.md, "Public endpoints").
    invoker_iam_disabled: bool = False

    def __post_init__(self) -> None:
        problems = []
        where = f"environment {self.environment!r} in infra/environments.py" if self.environment else "config"
        if self.environment is not None and not ENVIRONMENT_NAME.match(self.environment):
            problems.append(f"environment name {self.environment!r} is invalid: use 1-20 lowercase letters, "
                            "digits or '-', starting with a letter (it becomes part of stack names)")
        if self.min_instances is not None and not 0 <= self.min_instances <= 100:
            problems.append(f"{where}: min_instances={self.min_instances!r} is invalid: use 0-100 or None")
        bad_emails = [email for email in self.alert_emails if not EMAIL.match(email)]
        if bad_emails:
            problems.append(f"{where}: alert_emails {bad_emails!r} are not email addresses")
        for setting in SETTINGS:
            value = getattr(self, setting.field)
            if value is None and not setting.required:
                continue
            if not isinstance(value, str) or not setting.pattern.match(value):
                problems.append(f"{setting.where()}={value!r} is invalid: use {setting.rule}")
        suffix = max(ROLE_ID_SUFFIXES, key=len)
        if isinstance(self.writer_role_id, str) and len(self.role_id(suffix)) > MAX_ROLE_ID_CHARS:
            problems.append(f"{WRITER_ROLE_ID_ENV}={self.writer_role_id!r} is too long: the custom role "
                            f"{self.role_id(suffix)!r} would have {len(self.role_id(suffix))} characters, "
                            f"Google allows {MAX_ROLE_ID_CHARS}; use at most {MAX_ROLE_ID_CHARS - len(suffix)}")
        if problems:
            raise ConfigError("; ".join(problems))

    def role_id(self, suffix: str) -> str:
        """The id of one of the deployment's custom roles (suffix from ROLE_ID_SUFFIXES)."""
        return f"{self.writer_role_id}{suffix}"

    @property
    def registry_host(self) -> str:
        return f"{self.region}-docker.pkg.dev"

    def stack_name(self, base: str) -> str:
        """'hookstream' -> 'hookstream-staging': separate Terraform state (local file or bucket prefix)."""
        return f"{base}-{self.environment}" if self.environment else base


@dataclass(frozen=True)
class Environment:
    """One deployment of the reviewed streams (see infra/environments.py)."""

    name: str
    project: str
    region: str
    state_bucket: str | None = None
    min_instances: int | None = None
    alert_emails: tuple[str, ...] = ()
    invoker_iam_disabled: bool = False

    def config(self, image: str) -> DeployConfig:
        return DeployConfig(project=self.project, region=self.region, image=image,
                            state_bucket=self.state_bucket, environment=self.name,
                            min_instances=self.min_instances, alert_emails=self.alert_emails,
                            invoker_iam_disabled=self.invoker_iam_disabled)


ContextLookup = Callable[[str], object]


def load_config(environ: Mapping[str, str], context: ContextLookup | None = None,
                environments: Sequence[Environment] = ()) -> DeployConfig:
    """The named environment's settings (`environments`: infra/environments.py's list, passed in by the
    app so this module does not import the list that imports it), or, with none configured, every
    setting from `environ` / context."""
    config = (_environment_config(environ, context, environments) if environments
              else _shell_config(environ, context))
    if environ.get(CI_ENV, "").lower() == "true" and config.state_bucket is None:
        where = (f"state_bucket of environment {config.environment!r} in infra/environments.py"
                 if config.environment else STATE_BUCKET_ENV)
        raise ConfigError(f"running in CI ({CI_ENV}=true) without a Terraform state bucket: set {where}. "
                          "Local state would be lost with the runner (and it holds the endpoint secrets)")
    return config


def select_environment(environ: Mapping[str, str], context: ContextLookup | None,
                       environments: Sequence[Environment]) -> Environment:
    """The environment HOOKSTREAM_ENV (or context) names; the only one needs no name, two or more do."""
    by_name = {environment.name: environment for environment in environments}
    if len(by_name) != len(environments):
        raise ConfigError("infra/environments.py names an environment twice")
    by_project: dict[str, list[str]] = {}
    for environment in environments:
        by_project.setdefault(environment.project, []).append(environment.name)
    shared = {project: names for project, names in by_project.items() if len(names) > 1}
    if shared:
        # Service accounts, secrets, the spool bucket, custom roles, datasets and metrics are named per
        # project, not per environment: a second environment would take over the first one's resources.
        project, names = next(iter(shared.items()))
        raise ConfigError(f"environments {', '.join(map(repr, names))} in infra/environments.py share project "
                          f"{project!r}: hookstream names its service accounts, secrets, spool bucket, custom "
                          "roles, datasets and metrics per project, so they would collide; give each "
                          "environment its own project")
    name = environ.get(ENV_NAME_ENV) or (context(ENV_NAME_CONTEXT) if context else None)
    if not name:
        if len(environments) > 1:
            raise ConfigError(f"{len(environments)} environments are configured ({', '.join(by_name)}): "
                              f"name the one to synthesize with {ENV_NAME_ENV}, e.g. "
                              f"{ENV_NAME_ENV}={environments[0].name} (scripts/release --env does this)")
        name = environments[0].name
    if name not in by_name:
        raise ConfigError(f"{ENV_NAME_ENV}={name!r} is not an environment in infra/environments.py; "
                          f"use one of: {', '.join(by_name)}")
    environment = by_name[str(name)]
    # A setting exported for another environment must not silently lose (or win): refuse the mix-up.
    conflicts = [f"{env}={environ[env]!r}" for env, value in (
        (PROJECT_ENV, environment.project), (REGION_ENV, environment.region),
        (STATE_BUCKET_ENV, environment.state_bucket)) if environ.get(env) and environ[env] != value]
    if conflicts:
        raise ConfigError(f"{', '.join(conflicts)} in the shell contradict environment {environment.name!r} "
                          "in infra/environments.py, which sets them: unset them")
    return environment


def _environment_config(environ: Mapping[str, str], context: ContextLookup | None,
                        environments: Sequence[Environment]) -> DeployConfig:
    environment = select_environment(environ, context, environments)
    image = environ.get(IMAGE_ENV) or (context("hookstream:image") if context else None)
    if not image:
        raise ConfigError(f"missing deployment settings; set {IMAGE_ENV} to the image scripts/build-image "
                          f"printed for environment {environment.name!r}")
    return environment.config(str(image))


def _shell_config(environ: Mapping[str, str], context: ContextLookup | None) -> DeployConfig:
    """Read every setting from `environ`, else from cdktf context; list all missing ones at once."""
    values: dict[str, str | None] = {}
    missing = []
    for setting in SETTINGS:
        value = environ.get(setting.env) or (context(setting.context_key) if context else None)
        if value is None or value == "":
            if setting.required:
                missing.append(f"{setting.where()}, e.g. {setting.example}")
            values[setting.field] = None
        else:
            values[setting.field] = str(value)
    if missing:
        raise ConfigError("missing deployment settings; set " + "; ".join(missing))
    invoker_off = environ.get(INVOKER_IAM_DISABLED_ENV, "false").lower()
    if invoker_off not in ("true", "false", ""):
        raise ConfigError(f"{INVOKER_IAM_DISABLED_ENV}={invoker_off!r} is invalid: use true or false")
    return DeployConfig(
        project=str(values["project"]),
        region=str(values["region"]),
        image=str(values["image"]),
        state_bucket=values["state_bucket"],
        writer_role_id=values["writer_role_id"] or DEFAULT_WRITER_ROLE_ID,
        invoker_iam_disabled=invoker_off == "true",
    )
