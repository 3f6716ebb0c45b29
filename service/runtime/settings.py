"""The service's settings, read once at start-up from the environment Cloud Run (or scripts/dev) gives it.

`service_env` writes exactly the variables `load_settings` reads, so the cdktf stack and the local stack
cannot drift from the service: both call `service_env`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import tzinfo

from service.model.auth_settings import AUTH_CLASSES, Auth
from service.model.stream import Stream
from service.model.timezones import parse_time_zone

STREAM = "HOOKSTREAM_STREAM"
PROJECT = "HOOKSTREAM_PROJECT"
DATASET = "HOOKSTREAM_DATASET"
TABLE = "HOOKSTREAM_TABLE"
TIME_ZONE = "HOOKSTREAM_TIME_ZONE"
MAX_BODY_BYTES = "HOOKSTREAM_MAX_BODY_BYTES"
# Read by service/runtime/gunicorn.conf.py: one thread per request Cloud Run may send at once (its concurrency).
THREADS = "HOOKSTREAM_THREADS"
WRITE_DEADLINE_SECONDS = "HOOKSTREAM_WRITE_DEADLINE_SECONDS"
# The auth mode and its non-secret settings, as JSON (service/model/auth_settings.py).
AUTH = "HOOKSTREAM_AUTH"
# The endpoint secrets: one, or several separated by spaces/newlines while a secret is rotated.
# On Cloud Run this comes from Secret Manager; it is never logged.
SECRETS = "HOOKSTREAM_SECRETS"
# "1" serves GET /metrics (counters of one worker). Off on Cloud Run, where the endpoint would tell anyone
# the business's order volume; the per-batch log lines carry the same numbers to Cloud Logging.
METRICS_ENDPOINT = "HOOKSTREAM_METRICS_ENDPOINT"
# Seconds a request's headers (each read) and its whole body may take to arrive (default 10); read by
# service/runtime/gunicorn_worker.py for the headers and by the app for the body.
READ_TIMEOUT_SECONDS = "HOOKSTREAM_READ_TIMEOUT_SECONDS"
# Set only locally: the URL of the BigQuery emulator (the name the Google tools use for it).
BIGQUERY_EMULATOR_HOST = "BIGQUERY_EMULATOR_HOST"

DEFAULT_WRITE_DEADLINE_SECONDS = 10.0
DEFAULT_READ_TIMEOUT_SECONDS = 10.0


class SettingsError(RuntimeError):
    """The environment does not describe a valid stream; raised at start-up, never on a request."""


@dataclass(frozen=True)
class ServiceSettings:
    stream: Stream
    project: str
    write_deadline_seconds: float = DEFAULT_WRITE_DEADLINE_SECONDS
    bigquery_emulator_host: str | None = None
    metrics_endpoint: bool = False
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS
    secrets: tuple[str, ...] = field(default=(), repr=False)  # never in a repr, hence never in a log

    @property
    def zone(self) -> tzinfo:
        return parse_time_zone(self.stream.time_zone)

    @property
    def table_id(self) -> str:
        """`project.dataset.table`, as the BigQuery client names it."""
        return f"{self.project}.{self.stream.dataset}.{self.stream.table}"


def service_env(stream: Stream, project: str) -> dict[str, str]:
    """The environment that makes the service serve `stream` (secrets are wired separately)."""
    return {
        STREAM: stream.name,
        PROJECT: project,
        DATASET: stream.dataset,
        TABLE: stream.table,
        TIME_ZONE: stream.time_zone,
        MAX_BODY_BYTES: str(stream.max_body_bytes),
        AUTH: json.dumps(asdict(stream.auth), sort_keys=True),
        THREADS: str(stream.run.concurrency),
    }


_AUTH_CLASSES: dict[str, type[Auth]] = AUTH_CLASSES


def _auth_from_json(text: str) -> Auth:
    try:
        data = json.loads(text)
        auth_class = _AUTH_CLASSES[data["mode"]]
        return auth_class(**data)
    except (ValueError, KeyError, TypeError) as error:
        raise SettingsError(f"hookstream service: {AUTH} is not a valid auth setting ({error!r}); "
                            f"modes: {', '.join(_AUTH_CLASSES)}") from None


def load_settings(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    env = os.environ if environ is None else environ
    missing = [name for name in (STREAM, PROJECT, DATASET, TABLE) if not env.get(name)]
    if missing:
        raise SettingsError(f"hookstream service: set {', '.join(missing)} (see README, 'Service settings')")
    try:
        stream = Stream(
            name=env[STREAM],
            dataset=env[DATASET],
            table=env[TABLE],
            time_zone=env.get(TIME_ZONE, "UTC"),
            max_body_bytes=int(env.get(MAX_BODY_BYTES, str(Stream.max_body_bytes))),
            auth=_auth_from_json(env.get(AUTH, '{"mode": "token"}')),
        )
        deadline = float(env.get(WRITE_DEADLINE_SECONDS, DEFAULT_WRITE_DEADLINE_SECONDS))
        read_timeout = float(env.get(READ_TIMEOUT_SECONDS, DEFAULT_READ_TIMEOUT_SECONDS))
    except ValueError as error:
        raise SettingsError(f"hookstream service: {error}") from error
    for name, seconds in ((WRITE_DEADLINE_SECONDS, deadline), (READ_TIMEOUT_SECONDS, read_timeout)):
        if seconds <= 0:
            raise SettingsError(f"hookstream service: {name} must be > 0, got {seconds}")
    return ServiceSettings(
        stream=stream,
        project=env[PROJECT],
        write_deadline_seconds=deadline,
        bigquery_emulator_host=env.get(BIGQUERY_EMULATOR_HOST) or None,
        metrics_endpoint=env.get(METRICS_ENDPOINT, "") == "1",
        read_timeout_seconds=read_timeout,
        secrets=tuple(env.get(SECRETS, "").split()),
    )
