"""The rules a stream list must follow beyond each stream's own: unique names and tables, deployable sizing.

`infra/streams.py` wraps its list in `checked_streams`, so a mistake fails at import, in `scripts/test`,
`scripts/dev` and `cdktf synth` alike, with a message that names the stream, the field and the rule.
"""

from __future__ import annotations

from infra.sizing import check_sizing
from service.model.stream import Stream, StreamDefinitionError


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


def checked_streams(streams: tuple[Stream, ...]) -> tuple[Stream, ...]:
    """`streams` unchanged once they are unique and each can be sized on Cloud Run."""
    check_unique(streams)
    for stream in streams:
        check_sizing(stream)
    return streams
