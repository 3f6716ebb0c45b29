"""What one deployed service needs to serve its stream, and the one codec that carries it in environment variables.

The deploy code (the Cloud Run service's env) and the local stack write `to_env(ServiceSpec.of(stream,
project))`; the service reads `from_env(os.environ)` once at start-up. Every variable is typed and
required, the set is versioned, and a missing, unknown or malformed `HOOKSTREAM_*` variable stops the
service at start-up with the variable's name: a deploy that drifts from the service never serves.

Three variables are the runtime's alone and not written by `to_env`: the secrets (Secret Manager on
Cloud Run), the local-only metrics endpoint switch and the emulator's URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import tzinfo
from typing import Any

from service.model.auth_settings import AUTH_CLASSES, Auth, auth_problems
from service.model.ids import PROJECT_ID, table_path
from service.model.kept_headers import keep_headers_problems
from service.model.sender_timeouts import DEFAULT_ANSWER_BUDGET_SECONDS
from service.model.stream import MAX_BODY_LIMIT, Stream
from service.model.timezones import UnknownTimeZoneError, parse_time_zone

PREFIX = "HOOKSTREAM_"
VERSION = "HOOKSTREAM_ENV_VERSION"
# Bump when a variable is added, removed or changes meaning; a service refuses an env of another version.
ENV_VERSION = "3"

# The endpoint secrets: one, or several separated by whitespace while a secret is rotated. Never logged.
SECRETS = "HOOKSTREAM_SECRETS"
# "1" serves GET /metrics (counters of one worker). Off on Cloud Run, where the endpoint would tell anyone
# the business's order volume; the per-batch log lines carry the same numbers to Cloud Logging.
METRICS_ENDPOINT = "HOOKSTREAM_METRICS_ENDPOINT"
# Set only locally: the URL of the BigQuery emulator (the name the Google tools use for it).
BIGQUERY_EMULATOR_HOST = "BIGQUERY_EMULATOR_HOST"
# Where hits go when BigQuery cannot take them: gs://<bucket>/spool/<stream>/ (service/model/spool.py). Unset:
# no spool, a failed write is answered 503. Written by the deploy (infra/spool_resources.py) and scripts/dev
# beside to_env's variables, like the secrets: the spool is the deploy's resource, not a stream setting.
SPOOL_URL = "HOOKSTREAM_SPOOL_URL"
RUNTIME_ONLY = (SECRETS, METRICS_ENDPOINT, SPOOL_URL)

DEFAULT_WRITE_DEADLINE_SECONDS = 10.0
DEFAULT_READ_TIMEOUT_SECONDS = 10.0


class SettingsError(RuntimeError):
    """The environment does not describe a service; raised at start-up, never on a request."""


@dataclass(frozen=True)
class ServiceSpec:
    """One service's stream, destination and limits: exactly what `to_env` writes and `from_env` reads."""

    stream: str
    project: str
    dataset: str
    table: str
    time_zone: str
    max_body_bytes: int
    auth: Auth
    # gunicorn threads: one per request Cloud Run may send at once (the stream's run.concurrency).
    threads: int
    # How long a hit may wait for its row to be written before the sender gets 503.
    write_deadline_seconds: float = DEFAULT_WRITE_DEADLINE_SECONDS
    # How long a request's headers and its whole body may each take to arrive.
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS
    # How long a sender waits while BigQuery has not accepted its row, before the row is spooled instead.
    answer_budget_seconds: float = DEFAULT_ANSWER_BUDGET_SECONDS
    # Header names the stream lists for its rows' `headers` column (Stream.keep_headers).
    keep_headers: tuple[str, ...] = ()
    zone: tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Each problem names the variable that carries the attribute: what a person finds in the console.
        problems = [f"{VARIABLE[name]} must be > 0, got {value}" for name, value in (
            ("threads", self.threads), ("write_deadline_seconds", self.write_deadline_seconds),
            ("read_timeout_seconds", self.read_timeout_seconds),
            ("answer_budget_seconds", self.answer_budget_seconds)) if not value > 0]
        if not PROJECT_ID.match(self.project):
            problems.append(f"{VARIABLE['project']}={self.project!r} is not a Google Cloud project id")
        if not 1 <= self.max_body_bytes <= MAX_BODY_LIMIT:
            problems.append(f"{VARIABLE['max_body_bytes']} must be 1-{MAX_BODY_LIMIT}, got {self.max_body_bytes}")
        problems += [f"{VARIABLE['auth']}: {name}={value!r} is invalid: {rule}"
                     for name, value, rule in auth_problems(self.auth)]
        # Checked here too, so a service never starts keeping a secret header whatever wrote its environment.
        problems += [f"{VARIABLE['keep_headers']}: {value!r} is invalid: {rule}"
                     for _, value, rule in keep_headers_problems(self.keep_headers, self.auth)]
        try:
            object.__setattr__(self, "zone", parse_time_zone(self.time_zone))  # parsed here, once
        except UnknownTimeZoneError as error:
            problems.append(f"{VARIABLE['time_zone']}={self.time_zone!r}: {error}")
        if problems:
            raise SettingsError("; ".join(problems))

    @classmethod
    def of(cls, stream: Stream, project: str) -> ServiceSpec:
        """The spec that serves `stream` from `project`, with the service's default time limits."""
        return cls(stream=stream.name, project=project, dataset=stream.dataset, table=stream.table,
                   time_zone=stream.time_zone, max_body_bytes=stream.max_body_bytes, auth=stream.auth,
                   threads=stream.run.concurrency, answer_budget_seconds=stream.answer_budget_seconds,
                   keep_headers=stream.keep_headers)

    @property
    def table_path(self) -> str:
        """`project.dataset.table`, as the BigQuery client names the destination."""
        return table_path(self.project, self.dataset, self.table)


def _encode_auth(auth: Auth) -> str:
    return json.dumps(asdict(auth), sort_keys=True)


def _decode_auth(text: str) -> Auth:
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("mode") not in AUTH_CLASSES:
        raise ValueError(f"an object with a 'mode' among {', '.join(AUTH_CLASSES)}")
    auth_class = AUTH_CLASSES[data["mode"]]
    known = {f.name for f in fields(auth_class)}
    if set(data) - known:
        raise ValueError(f"unknown settings {sorted(set(data) - known)} for mode {data['mode']!r}")
    return auth_class(**data)


def _encode_names(names: tuple[str, ...]) -> str:
    return json.dumps(list(names))


def _decode_names(text: str) -> tuple[str, ...]:
    data = json.loads(text)
    if not isinstance(data, list) or not all(isinstance(name, str) for name in data):
        raise ValueError("a JSON list of header names, e.g. [\"X-Request-Id\"]")
    return tuple(data)


def _positive_int(text: str) -> int:
    if not text.isdigit():
        raise ValueError("a whole number")
    return int(text)


@dataclass(frozen=True)
class _Variable:
    name: str
    attribute: str
    encode: Callable[[Any], str]
    decode: Callable[[str], Any]


VARIABLES: tuple[_Variable, ...] = (
    _Variable("HOOKSTREAM_STREAM", "stream", str, str),
    _Variable("HOOKSTREAM_PROJECT", "project", str, str),
    _Variable("HOOKSTREAM_DATASET", "dataset", str, str),
    _Variable("HOOKSTREAM_TABLE", "table", str, str),
    _Variable("HOOKSTREAM_TIME_ZONE", "time_zone", str, str),
    _Variable("HOOKSTREAM_MAX_BODY_BYTES", "max_body_bytes", str, _positive_int),
    # The auth mode and its non-secret settings, as JSON (service/model/auth_settings.py).
    _Variable("HOOKSTREAM_AUTH", "auth", _encode_auth, _decode_auth),
    _Variable("HOOKSTREAM_THREADS", "threads", str, _positive_int),
    _Variable("HOOKSTREAM_WRITE_DEADLINE_SECONDS", "write_deadline_seconds", repr, float),
    _Variable("HOOKSTREAM_READ_TIMEOUT_SECONDS", "read_timeout_seconds", repr, float),
    _Variable("HOOKSTREAM_ANSWER_BUDGET_SECONDS", "answer_budget_seconds", repr, float),
    # JSON list (`[]` when the stream lists none: every variable is required).
    _Variable("HOOKSTREAM_KEEP_HEADERS", "keep_headers", _encode_names, _decode_names),
)
VARIABLE = {variable.attribute: variable.name for variable in VARIABLES}


def to_env(spec: ServiceSpec) -> dict[str, str]:
    """The environment that makes the service serve `spec` (secrets are wired separately)."""
    env = {VERSION: ENV_VERSION}
    for variable in VARIABLES:
        env[variable.name] = variable.encode(getattr(spec, variable.attribute))
    return env


def from_env(environ: Mapping[str, str]) -> ServiceSpec:
    """The spec `to_env` wrote; SettingsError naming the variable when one is missing, unknown or malformed."""
    where = "hookstream service"
    unknown = sorted(name for name in environ if name.startswith(PREFIX)
                     and name not in {VERSION, *RUNTIME_ONLY} and name not in VARIABLE.values())
    if unknown:
        raise SettingsError(f"{where}: unknown setting(s) {', '.join(unknown)} (a newer or older deploy? "
                            f"this service reads {VERSION}={ENV_VERSION}; see README, 'Service settings')")
    if environ.get(VERSION) != ENV_VERSION:
        raise SettingsError(f"{where}: {VERSION} is {environ.get(VERSION)!r}, this service reads {ENV_VERSION!r}: "
                            "deploy the service and its settings from the same commit")
    missing = [variable.name for variable in VARIABLES if not environ.get(variable.name)]
    if missing:
        raise SettingsError(f"{where}: set {', '.join(missing)} (see README, 'Service settings')")
    values: dict[str, Any] = {}
    for variable in VARIABLES:
        try:
            values[variable.attribute] = variable.decode(environ[variable.name])
        except (ValueError, TypeError) as error:
            raise SettingsError(f"{where}: {variable.name} is not valid: {error}") from None
    try:
        return ServiceSpec(**values)
    except SettingsError as error:
        raise SettingsError(f"{where}: {error}") from None
