"""A data stream: frozen, validated settings shared by the service, the local stack and the cdktf app.

`infra/streams.py` lists the streams a pull request changes. Every rule a reviewer should not have to
check by eye is enforced here, at construction: a bad definition fails at import with a message that
names the stream, the field, the value and what would be valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from service.model.ads import GoogleAdsConversions, ads_problems
from service.model.auth_settings import Auth, TokenAuth, auth_problems
from service.model.ids import DATASET_OR_TABLE_ID
from service.model.kept_headers import keep_headers_problems, kept_header_names
from service.model.latest import LatestView, latest_view_problems
from service.model.sender_timeouts import DEFAULT_ANSWER_BUDGET_SECONDS, answer_budget_problem
from service.model.stitch import GA4Export, stitch_problems
from service.model.timezones import UnknownTimeZoneError, parse_time_zone

# A stream name becomes part of Cloud Run service, service account and secret ids, so it follows
# the strictest of them (a DNS label) and leaves room for the prefixes the stack adds.
STREAM_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")

# insertAll requests are capped at 10 MB; hookstream sends at most this much in one request.
MAX_INSERT_REQUEST_BYTES = 9_000_000
# JSON escapes a control byte as six characters (\u0001), the worst case of any byte.
JSON_ESCAPE_WORST_FACTOR = 6
# hit_id, received_at, date, a delivery id and the kept headers (at most 17 headers of at most 8 KiB each,
# gunicorn's field limit, escaped at most 6x: ~840 KiB) around the payload.
ROW_OVERHEAD_BYTES = 1024 * 1024
# So a 1 MiB body escapes to at most 6 MiB + 1 MiB, which fits in one request whatever its bytes are:
# a body the stream accepts can always be written (tests/runtime/test_integration.py sends exactly that).
MAX_BODY_LIMIT = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

CLUSTERABLE_COLUMNS = ("hit_id", "payload")
# Cloud Monitoring's metric-absence conditions: at least 2 minutes, whole minutes, at most 23 h 30 min.
MIN_SILENCE = timedelta(minutes=2)
MAX_SILENCE = timedelta(hours=23, minutes=30)

class StreamDefinitionError(ValueError):
    """A stream definition breaks a rule; the message says which stream, field, value and rule."""

    def __init__(self, stream: str, field_name: str, value: object, rule: str) -> None:
        super().__init__(f"stream {stream!r}: {field_name}={value!r} is invalid: {rule}")
        self.stream = stream
        self.field_name = field_name


@dataclass(frozen=True)
class TableOptions:
    """How the destination table is managed (the cdktf stack and the local stack both apply it: infra/table_spec.py)."""

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
    # The payload fields behind the `<table>_latest` view (service/model/latest.py); None: no view.
    latest: LatestView | None = None
    # The GA4 export its latest orders are stitched to (service/model/stitch.py); None: no such views.
    stitch: GA4Export | None = None
    # Final orders sent back to Google Ads (service/model/ads.py, docs/ads.md); None: nothing is sent.
    ads: GoogleAdsConversions | None = None
    # Alert when no hit was stored for this long (the CRM or its webhook stopped); None: no such alert.
    alert_if_silent_for: timedelta | None = None
    # The longest a sender waits for its answer while BigQuery is slow or down: a row BigQuery has not
    # accepted by then is spooled and answered "spooled" (docs/spool.md). Checked against the sender's own
    # published timeout (service/model/sender_timeouts.py).
    answer_budget_seconds: float = DEFAULT_ANSWER_BUDGET_SECONDS
    # Header names whose values each row keeps in its `headers` column, beside the method, the content type
    # and the sender preset's own (service/model/kept_headers.py). Secret-bearing names are refused.
    keep_headers: tuple[str, ...] = ()

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
        for field_name, value, rule in keep_headers_problems(self.keep_headers, self.auth):
            raise StreamDefinitionError(self.name, field_name, value, rule)
        budget_problem = answer_budget_problem(self.answer_budget_seconds, self.auth)
        if budget_problem is not None:
            raise StreamDefinitionError(self.name, "answer_budget_seconds", self.answer_budget_seconds, budget_problem)
        if self.latest is not None:
            for field_name, value, rule in latest_view_problems(self.latest, self.table):
                raise StreamDefinitionError(self.name, field_name, value, rule)
        if self.latest is not None:
            self._check_header_fields(self.latest)
        if self.stitch is not None:
            for field_name, value, rule in stitch_problems(self.stitch, self.latest, self.table):
                raise StreamDefinitionError(self.name, field_name, value, rule)
        if self.ads is not None:
            for field_name, value, rule in ads_problems(self.ads, self.stitch, self.latest, self.table):
                raise StreamDefinitionError(self.name, field_name, value, rule)
        self._check_table_options(self.table_options)
        # The latest view (and the views built on it) reads every partition: with a required partition
        # filter, every query on it would fail.
        self._check("latest", self.latest.key if self.latest else None,
                    self.latest is None or not self.table_options.require_partition_filter,
                    "the latest view reads the whole table, and table_options.require_partition_filter=True "
                    "makes BigQuery refuse every query on it; set require_partition_filter=False or remove "
                    "latest (and stitch)")
        silence = self.alert_if_silent_for
        self._check("alert_if_silent_for", silence,
                    silence is None or (isinstance(silence, timedelta) and MIN_SILENCE <= silence <= MAX_SILENCE
                                        and silence.total_seconds() % 60 == 0),
                    "use None or a timedelta of whole minutes from 2 minutes to 23 hours 30 minutes "
                    "(Cloud Monitoring's limits for an alert on missing data), e.g. timedelta(hours=12)")

    @property
    def table_ref(self) -> str:
        """`dataset.table`, as a query names it."""
        return f"{self.dataset}.{self.table}"

    def _check(self, field_name: str, value: object, ok: bool, rule: str) -> None:
        if not ok:
            raise StreamDefinitionError(self.name, field_name, value, rule)

    def _check_header_fields(self, view: LatestView) -> None:
        kept = kept_header_names(self.auth, self.keep_headers)
        for index, field_ in enumerate(view.fields):
            self._check(f"latest.fields[{index}].header", field_.header,
                        not field_.header or field_.header.lower() in kept,
                        "the row keeps only its sender preset's headers and keep_headers "
                        f"({', '.join(kept) or 'none'}): add it to keep_headers")

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
