"""The service's settings, read once per process at start-up: the deploy's spec and the runtime-only extras."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from service.model.service_env import (
    BIGQUERY_EMULATOR_HOST,
    METRICS_ENDPOINT,
    SECRETS,
    ServiceSpec,
    SettingsError,
    from_env,
)

__all__ = ["ServiceSettings", "SettingsError", "load_settings", "process_settings"]


@dataclass(frozen=True)
class ServiceSettings:
    spec: ServiceSpec
    secrets: tuple[str, ...] = field(default=(), repr=False)  # never in a repr, hence never in a log
    metrics_endpoint: bool = False
    bigquery_emulator_host: str | None = None


def load_settings(environ: Mapping[str, str]) -> ServiceSettings:
    """The settings `environ` describes; SettingsError (naming the variable) when it describes none."""
    return ServiceSettings(
        spec=from_env(environ),
        secrets=tuple(environ.get(SECRETS, "").split()),
        metrics_endpoint=environ.get(METRICS_ENDPOINT, "") == "1",
        bigquery_emulator_host=environ.get(BIGQUERY_EMULATOR_HOST) or None,
    )


@functools.cache
def process_settings() -> ServiceSettings:
    """This process's settings, from its environment. gunicorn.conf.py reads them first, in the arbiter, so a
    bad environment stops gunicorn before any worker starts, and forked workers inherit the parsed result."""
    return load_settings(os.environ)
