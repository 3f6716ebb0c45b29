"""Cloud resource names derived from a stream's name, and the rules the provider bindings do not check.

service/model/stream.py already validates what a reviewer writes (name, dataset, table, time zone, limits).
This module checks only what the stack derives from it, so that a change of prefix or of the stream
name rules fails synth with the stream and the field named, instead of failing half-way through
`cdktf deploy` with a Google API error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from infra.stream_rules import checked_streams
from service.model.stream import Stream, StreamDefinitionError

# The two stacks (infra/stacks.py): the image registry, and the streams.
REGISTRY_STACK = "hookstream-registry"
STREAMS_STACK = "hookstream"
# The shared Artifact Registry repository for the webhook image.
REGISTRY_REPOSITORY_ID = "hookstream"

SERVICE_ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
CLOUD_RUN_SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# Terraform output names are identifiers; cdktf's own limits are looser.
OUTPUT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,127}$")


@dataclass(frozen=True)
class StreamNames:
    """Every name the stack derives from one stream."""

    service_account_id: str
    # The stream's own replay identity: it reads and deletes only this stream's spool (infra/spool_resources.py).
    replay_service_account_id: str
    cloud_run_service: str
    secret_id: str
    endpoint_url_output: str
    table_id_output: str
    service_account_output: str

    @classmethod
    def of(cls, stream: Stream) -> StreamNames:
        snake = stream.name.replace("-", "_")
        return cls(
            # "hooks-" keeps the id within 6-30 characters for every valid stream name (1-20 chars).
            service_account_id=f"hooks-{stream.name}",
            # "replay-" + at most 20 characters: 27, within the 30 IAM allows.
            replay_service_account_id=f"replay-{stream.name}",
            cloud_run_service=f"hookstream-{stream.name}",
            secret_id=f"hookstream-{stream.name}-endpoint",
            # Underscores: outputs are read as JSON keys and shell-friendly names (`jq .crm_orders_...`).
            endpoint_url_output=f"{snake}_endpoint_url",
            table_id_output=f"{snake}_table_id",
            service_account_output=f"{snake}_service_account",
        )


def check_service_account_id(stream: str, account_id: str) -> None:
    if not SERVICE_ACCOUNT_ID.match(account_id):
        raise StreamDefinitionError(
            stream, "service account id (derived from name)", account_id,
            "IAM needs 6-30 characters: lowercase letters, digits and '-', starting with a letter, "
            "ending with a letter or digit; shorten or rename the stream")


def check_cloud_run_service_name(stream: str, name: str) -> None:
    if not CLOUD_RUN_SERVICE_NAME.match(name):
        raise StreamDefinitionError(
            stream, "Cloud Run service name (derived from name)", name,
            "Cloud Run needs a DNS label of at most 49 characters: lowercase letters, digits and '-', "
            "starting with a letter, not ending with '-'")


def check_secret_id(stream: str, secret_id: str) -> None:
    if not SECRET_ID.match(secret_id):
        raise StreamDefinitionError(
            stream, "secret id (derived from name)", secret_id,
            "Secret Manager needs 1-255 letters, digits, '_' or '-'")


def check_output_name(stream: str, output: str) -> None:
    if not OUTPUT_NAME.match(output):
        raise StreamDefinitionError(
            stream, "output name (derived from name)", output,
            "Terraform outputs need a letter then letters, digits, '_' or '-'")


def check_dataset_agreement(streams: Iterable[Stream]) -> None:
    """Streams sharing a dataset create it once, so they must agree on its location and labels."""
    first_by_dataset: dict[str, Stream] = {}
    label_owner: dict[tuple[str, str], Stream] = {}
    for stream in streams:
        first = first_by_dataset.setdefault(stream.dataset, stream)
        for key, value in stream.table_options.labels:
            other = label_owner.setdefault((stream.dataset, key), stream)
            other_value = dict(other.table_options.labels)[key]
            if other_value != value:
                raise StreamDefinitionError(
                    stream.name, "table_options.labels", (key, value),
                    f"stream {other.name!r} labels dataset {stream.dataset!r} with {key}={other_value!r}; "
                    "streams sharing a dataset need the same value for a label")
        if stream.table_options.location != first.table_options.location:
            raise StreamDefinitionError(
                stream.name, "table_options.location", stream.table_options.location,
                f"stream {first.name!r} puts dataset {stream.dataset!r} in "
                f"{first.table_options.location!r}; streams sharing a dataset need one location")


def check_deployable(streams: tuple[Stream, ...]) -> dict[str, StreamNames]:
    """Validate everything the stack derives from `streams`; returns their names, by stream name."""
    checked_streams(streams)
    check_dataset_agreement(streams)
    names: dict[str, StreamNames] = {}
    owner_of: dict[str, str] = {}
    for stream in streams:
        derived = StreamNames.of(stream)
        check_service_account_id(stream.name, derived.service_account_id)
        check_service_account_id(stream.name, derived.replay_service_account_id)
        check_cloud_run_service_name(stream.name, derived.cloud_run_service)
        check_secret_id(stream.name, derived.secret_id)
        for output in (derived.endpoint_url_output, derived.table_id_output, derived.service_account_output):
            check_output_name(stream.name, output)
        # Distinct stream names could still collide after a future change of prefixes or truncation.
        for field_name, value in (("service account id", derived.service_account_id),
                                  ("service account id", derived.replay_service_account_id),
                                  ("Cloud Run service name", derived.cloud_run_service),
                                  ("secret id", derived.secret_id)):
            key = f"{field_name}:{value}"
            if key in owner_of:
                raise StreamDefinitionError(
                    stream.name, f"{field_name} (derived from name)", value,
                    f"stream {owner_of[key]!r} already uses it; rename one of the streams")
            owner_of[key] = stream.name
        names[stream.name] = derived
    return names
