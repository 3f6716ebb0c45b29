"""A data stream: frozen, validated settings shared by the service, the local stack and the cdktf app.

`infra/streams.py` lists the streams a pull request changes. Every rule a reviewer should not have to
check by eye is enforced here, at construction: a bad definition fails at import with a message that
names the stream, the field, the value and what would be valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from service.attributed_view import GA4Export, stitch_problems
from service.auth_config import Auth, TokenAuth, auth_problems
from service.latest_view import LatestView, latest_view_problems
from service.timezones import UnknownTimeZoneError, parse_time_zone

# A stream name becomes part of Cloud Run service, service account and secret ids, so it follows
# the strictest of them (a DNS label) and leaves room for the prefixes the stack adds.
STREAM_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")
DATASET_OR_TABLE_ID = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")

# insertAll requests are capped at 10 MB; hookstream sends at most this much in one request.
MAX_INSERT_REQUEST_BYTES = 9_000_000
# JSON escapes a control byte as six characters (\u0001), the worst case of any byte.
JSON_ESCAPE_WORST_FACTOR = 6
# hit_id, received_at, date and a delivery id (a header, at most 8 KiB before escaping) around the payload.
ROW_OVERHEAD_BYTES = 64 * 1024
# So a 1 MiB body escapes to at most 6 MiB + 64 KiB, which fits in one request whatever its bytes are:
# a body the stream accepts can always be written (tests/test_integration.py sends exactly that).
MAX_BODY_LIMIT = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

CLUSTERABLE_COLUMNS = ("hit_id", "payload")

# Peak memory of one hit in flight, as a multiple of its body: measured at most 3x for the worst bodies
# (emoji, control characters; `scripts/bench-memory`), plus headroom for the HTTP stack's buffers.
MEMORY_PER_BODY_FACTOR = 4
# One gunicorn arbiter and worker with the app loaded and idle, rounded up from the bench's RSS figures.
BASE_PROCESS_MEMORY_MIB = 160


class StreamDefinitionError(ValueError):
    """A stream definition breaks a rule; the message says which stream, field, value and rule."""

    def __init__(self, stream: str, field_name: str, value: object, rule: str) -> None:
        super().__init__(f"stream {stream!r}: {field_name}={value!r} is invalid: {rule}")
        self.stream = stream
        self.field_name = field_name


@dataclass(frozen=True)
class TableOptions:
    """How the destination table is managed (used by the cdktf stack; the local stack ignores cost knobs)."""

    location: str = "US"
    labels: tuple[tuple[str, str], ...] = ()
    partition_expiration_days: int | None = None
    require_partition_filter: bool = False
    clustering: tuple[str, ...] = ()
    deletion_protection: bool = True


@dataclass(frozen=True)
class RunOptions:
    """Sizing of the stream's Cloud Run service."""

    min_instances: int = 0
    max_instances: int = 10
    concurrency: int = 80
    cpu: str = "1"
    memory: str = "512Mi"
    request_timeout_seconds: int = 30


@dataclass(frozen=True)
class Stream:
    """One CRM webhook feeding one BigQuery table."""

    name: str
    dataset: str
    table: str
    time_zone: str = "UTC"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    description: str = ""
    auth: Auth = field(default_factory=TokenAuth)
    table_options: TableOptions = field(default_factory=TableOptions)
    run: RunOptions = field(default_factory=RunOptions)
    # The payload fields behind the `<table>_latest` view (service/latest_view.py); None: no view.
    latest: LatestView | None = None
    # The GA4 export its latest orders are stitched to (service/attributed_view.py); None: no such views.
    stitch: GA4Export | None = None

    def __post_init__(self) -> None:
        self._check(
            "name",
            self.name,
            bool(STREAM_NAME.match(self.name)),
            "use 1-20 characters: lowercase letters, digits and '-', starting with a letter, "
            "not ending with '-'",
        )
        for name in ("dataset", "table"):
            value = getattr(self, name)
            self._check(
                name,
                value,
                isinstance(value, str) and bool(DATASET_OR_TABLE_ID.match(value)),
                "BigQuery ids use 1-1024 letters, digits and underscores",
            )
        try:
            parse_time_zone(self.time_zone)
        except UnknownTimeZoneError as error:
            raise StreamDefinitionError(self.name, "time_zone", self.time_zone, str(error)) from None
        self._check(
            "max_body_bytes",
            self.max_body_bytes,
            isinstance(self.max_body_bytes, int) and 1 <= self.max_body_bytes <= MAX_BODY_LIMIT,
            f"use a whole number of bytes from 1 to {MAX_BODY_LIMIT} (1 MiB)",
        )
        for field_name, value, rule in auth_problems(self.auth):
            raise StreamDefinitionError(self.name, field_name, value, rule)
        if self.latest is not None:
            for field_name, value, rule in latest_view_problems(self.latest, self.table):
                raise StreamDefinitionError(self.name, field_name, value, rule)
        if self.stitch is not None:
            for field_name, value, rule in stitch_problems(self.stitch, self.latest, self.table):
                raise StreamDefinitionError(self.name, field_name, value, rule)
        self._check_table_options(self.table_options)
        self._check_run_options(self.run)
        self._check_memory_fits_concurrent_bodies()

    @property
    def table_ref(self) -> str:
        """`dataset.table`, as a query names it."""
        return f"{self.dataset}.{self.table}"

    def _check(self, field_name: str, value: object, ok: bool, rule: str) -> None:
        if not ok:
            raise StreamDefinitionError(self.name, field_name, value, rule)

    def _check_table_options(self, options: TableOptions) -> None:
        for key, value in options.labels:
            self._check("table_options.labels", key, bool(LABEL_KEY.match(key)),
                        "label keys are 1-63 lowercase letters, digits, '_' or '-', starting with a letter")
            self._check("table_options.labels", value, bool(LABEL_VALUE.match(value)),
                        "label values are 0-63 lowercase letters, digits, '_' or '-'")
        days = options.partition_expiration_days
        self._check("table_options.partition_expiration_days", days, days is None or days >= 1,
                    "use None (keep forever) or a number of days >= 1")
        self._check("table_options.clustering", options.clustering,
                    len(options.clustering) <= 4
                    and len(set(options.clustering)) == len(options.clustering)
                    and all(column in CLUSTERABLE_COLUMNS for column in options.clustering),
                    f"cluster on up to 4 distinct columns among {CLUSTERABLE_COLUMNS}")
        self._check("table_options.location", options.location, bool(options.location.strip()),
                    "name a BigQuery location such as 'US', 'EU' or 'europe-west3'")

    def _check_memory_fits_concurrent_bodies(self) -> None:
        # Cloud Run kills an instance that exceeds its memory, failing every request in it: make sure
        # `concurrency` hits at the body limit fit.
        needed_mib = BASE_PROCESS_MEMORY_MIB + -(-self.run.concurrency * self.max_body_bytes
                                                 * MEMORY_PER_BODY_FACTOR // 2**20)
        self._check("run.memory", self.run.memory, memory_mib(self.run.memory) >= needed_mib,
                    f"{self.run.concurrency} concurrent hits of up to {self.max_body_bytes} bytes need about "
                    f"{needed_mib}Mi ({BASE_PROCESS_MEMORY_MIB}Mi for the process + concurrency x max_body_bytes x "
                    f"{MEMORY_PER_BODY_FACTOR}); raise run.memory, or lower run.concurrency or max_body_bytes")

    def _check_run_options(self, run: RunOptions) -> None:
        self._check("run.min_instances", run.min_instances, 0 <= run.min_instances <= 100,
                    "use 0-100")
        self._check("run.max_instances", run.max_instances,
                    max(1, run.min_instances) <= run.max_instances <= 1000,
                    "use at least max(1, min_instances) and at most 1000")
        self._check("run.concurrency", run.concurrency, 1 <= run.concurrency <= 1000,
                    "Cloud Run allows 1-1000 concurrent requests per instance")
        self._check("run.cpu", run.cpu, run.cpu in ("1", "2", "4", "6", "8"),
                    "use one of '1', '2', '4', '6', '8'")
        self._check("run.memory", run.memory, bool(re.match(r"^\d+(Mi|Gi)$", run.memory)),
                    "use a size such as '512Mi' or '1Gi'")
        self._check("run.request_timeout_seconds", run.request_timeout_seconds,
                    5 <= run.request_timeout_seconds <= 3600, "use 5-3600 seconds")


def memory_mib(size: str) -> int:
    """'512Mi' -> 512, '2Gi' -> 2048 (the forms RunOptions.memory accepts)."""
    number, unit = int(size[:-2]), size[-2:]
    return number * 1024 if unit == "Gi" else number


def check_unique(streams: tuple[Stream, ...]) -> tuple[Stream, ...]:
    """Reject two streams with one name or one destination table; returns the streams unchanged."""
    seen_names: dict[str, Stream] = {}
    seen_tables: dict[str, Stream] = {}
    for stream in streams:
        if stream.name in seen_names:
            raise StreamDefinitionError(stream.name, "name", stream.name,
                                        "another stream already has this name; names must be unique")
        if stream.table_ref in seen_tables:
            other = seen_tables[stream.table_ref].name
            raise StreamDefinitionError(stream.name, "table", stream.table_ref,
                                        f"stream {other!r} already writes this table; give each stream its own")
        seen_names[stream.name] = stream
        seen_tables[stream.table_ref] = stream
    return streams
