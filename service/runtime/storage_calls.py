"""The bounds of every Cloud Storage call the replay makes, so each of its steps has a worst case.

The client's own retry rule would otherwise retry a failing call for up to two minutes; here it stops
retrying after OBJECT_CALL_SECONDS, and each attempt gets as long again, so a call ends within
OBJECT_CALL_WORST_SECONDS (its last attempt may start just before retrying stops).
"""

from __future__ import annotations

from typing import Any

OBJECT_CALL_SECONDS = 30.0
OBJECT_CALL_WORST_SECONDS = 2 * OBJECT_CALL_SECONDS


def object_call() -> dict[str, Any]:
    """The keyword arguments that bound one call: `blob.delete(..., **object_call())`."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return {"timeout": OBJECT_CALL_SECONDS, "retry": DEFAULT_RETRY.with_timeout(OBJECT_CALL_SECONDS)}
