"""The reviewed stream list for command-line tools: a mistake in it is one message, not a traceback."""

from __future__ import annotations

from service.model.stream import Stream, StreamDefinitionError


def load_streams(prog: str) -> tuple[Stream, ...]:
    """infra/streams.py's STREAMS, or exit with its validation message (which names stream, field, value)."""
    try:
        from infra.streams import STREAMS
    except StreamDefinitionError as error:
        # SystemExit prints only this line: the import machinery's frames would hide the one that matters.
        raise SystemExit(f"{prog}: infra/streams.py: {error}") from None
    return STREAMS
