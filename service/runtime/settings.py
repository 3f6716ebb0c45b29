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
    SPOOL_URL,
    ServiceSpec,
    SettingsError,
    from_env,
)
from service.runtime.spool import SpoolLocation, SpoolUrlError

__all__ = ["ServiceSettings", "SettingsError", "load_settings", "process_settings"]


@dataclass(frozen=True)
class ServiceSettings:
    spec: ServiceSpec
    secrets: tuple[str, ...] = field(default=(), repr=False)  # never in a repr, hence never in a log
    metrics_endpoint: bool = False
    bigquery_emulator_host: str | None = None
    spool_url: str | None = None  # gs://<bucket>/spool/<stream>/, or None: no spool (503 when BigQuery fails)


def load_settings(environ: Mapping[str, str]) -> ServiceSettings:
    """The settings `environ` describes; SettingsError (naming the variable) when it describes none."""
    spec = from_env(environ)
    spool_url = environ.get(SPOOL_URL) or None
    if spool_url is not None:
        try:
            SpoolLocation.parse(spool_url)
        except SpoolUrlError as error:
            raise SettingsError(f"hookstream service for stream {spec.stream!r}: {SPOOL_URL}: {error}") from None
    return ServiceSettings(
        spec=spec,
        spool_url=spool_url,
        secrets=tuple(environ.get(SECRETS, "").split()),
        metrics_endpoint=environ.get(METRICS_ENDPOINT, "") == "1",
        bigquery_emulator_host=environ.get(BIGQUERY_EMULATOR_HOST) or None,
    )


@functools.cache
def process_settings() -> ServiceSettings:
    """This process's settings, from its environment. gunicorn.conf.py reads them first, in the arbiter, so a
    bad environment stops gunicorn before any worker starts, and forked workers inherit the parsed result."""
    return load_settings(os.environ)
