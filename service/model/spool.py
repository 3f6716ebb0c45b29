"""Where a stream's spool lives in the deployment's spool bucket: one rule for the service, the deploy
(the endpoint's create-only grant is limited to this prefix) and the local stack."""

from __future__ import annotations

import re

SPOOL_ROOT = "spool/"


def spool_prefix(stream_name: str) -> str:
    """`spool/<stream>/`: the object-name prefix of a stream's spooled hits."""
    return f"{SPOOL_ROOT}{stream_name}/"


def quarantine_prefix_of(live_prefix: str) -> str:
    """`spool/<stream>.quarantine/` for `spool/<stream>/`: where the replay moves the objects it cannot store.
    Beside the live prefix, not under it, so listing the live prefix (the replay, scripts/status) no longer
    sees them, and the endpoint's create-only grant (limited to the live prefix) cannot write there."""
    return live_prefix.rstrip("/") + ".quarantine/"


def quarantine_prefix(stream_name: str) -> str:
    return quarantine_prefix_of(spool_prefix(stream_name))


def spool_url(bucket: str, stream_name: str) -> str:
    """The HOOKSTREAM_SPOOL_URL value that points a stream's service and replay at its spool."""
    return f"gs://{bucket}/{spool_prefix(stream_name)}"


def spool_bucket_name(project: str) -> str:
    """The deployment's spool bucket, `<project>-hookstream-spool` (bucket names are global; a domain-scoped
    project id keeps its last part, and characters a bucket name cannot hold become '-')."""
    return re.sub(r"[^a-z0-9-]", "-", f"{project.rsplit(':', 1)[-1]}-hookstream-spool")
