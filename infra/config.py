"""Where the deployment lives: project, region, image, state bucket. Never hard-coded in the stack.

Each setting comes from the environment (`HOOKSTREAM_GCP_PROJECT`, ...) or, failing that, from cdktf
context (`"context": {"hookstream:project": ...}` in cdktf.json). The environment wins because it is
per-invocation (a CI job, a shell), while cdktf.json is committed and shared. A missing or malformed
setting fails synth before any resource is built, naming what to set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# Not HOOKSTREAM_PROJECT: that name is the service's own setting (service/settings.py).
PROJECT_ENV = "HOOKSTREAM_GCP_PROJECT"
REGION_ENV = "HOOKSTREAM_REGION"
IMAGE_ENV = "HOOKSTREAM_IMAGE"
STATE_BUCKET_ENV = "HOOKSTREAM_STATE_BUCKET"
WRITER_ROLE_ID_ENV = "HOOKSTREAM_WRITER_ROLE_ID"
# The project's custom role that lets a stream's account insert rows (infra/stacks.py). The id is fixed
# so every deploy updates the same role; a deleted role's id stays taken for 7 to 37 days, so a
# redeploy in that window needs another id (docs/deploy.md, "The writer role").
DEFAULT_WRITER_ROLE_ID = "hookstreamRowWriter"

PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
# registry host / path [: tag] [@ digest]; a typo here would only surface as a failed Cloud Run revision.
IMAGE = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]{1,128})?(@sha256:[0-9a-f]{64})?$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
ROLE_ID = re.compile(r"^[A-Za-z0-9_.]{3,64}$")


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

    def __post_init__(self) -> None:
        problems = []
        for setting in SETTINGS:
            value = getattr(self, setting.field)
            if value is None and not setting.required:
                continue
            if not isinstance(value, str) or not setting.pattern.match(value):
                problems.append(f"{setting.where()}={value!r} is invalid: use {setting.rule}")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def registry_host(self) -> str:
        return f"{self.region}-docker.pkg.dev"


ContextLookup = Callable[[str], object]


def load_config(environ: Mapping[str, str], context: ContextLookup | None = None) -> DeployConfig:
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
    return DeployConfig(
        project=str(values["project"]),
        region=str(values["region"]),
        image=str(values["image"]),
        state_bucket=values["state_bucket"],
        writer_role_id=values["writer_role_id"] or DEFAULT_WRITER_ROLE_ID,
    )
