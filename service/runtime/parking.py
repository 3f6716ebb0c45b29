"""Answering a request later, from another thread, without holding a thread while it waits.

A hit's answer depends on its row's verdict, which arrives with the group commit that carries it. A
request thread that blocked for it cost a sleep and a wake-up, and a wait for the GIL, per hit: ~70 us of
CPU per hit on one core (docs/benchmark.md). Under our gunicorn worker
(service/runtime/gunicorn_worker.py) a request's WSGI environ carries a `Parking` at PARK_KEY: the view
parks the request, submits its row, and returns at once; the thread serves the next request; the answer
is written when the verdict comes. Elsewhere (the Flask test client, another server) there is no
`Parking`, and the view waits for the verdict as before: the answers are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from flask import Response

PARK_KEY = "hookstream.park"


class Parking(Protocol):
    parked: bool  # True between park() and the end of the request's view (unless cancelled)

    def park(self) -> Callable[[Response], None]:
        """Mark the request answered later; returns the function that answers it (call it exactly once,
        from any thread). The response the view returns meanwhile is never sent."""

    def cancel(self) -> None:
        """Undo `park` before the answer function was handed to anyone: the view answers as usual."""

    def run_blocking(self, job: Callable[[], None]) -> None:
        """Run `job` on one of the server's threads, where it may block."""


def parking_of(environ: Mapping[str, Any]) -> Parking | None:
    """The request's Parking, where the server offers one."""
    parking: Parking | None = environ.get(PARK_KEY)
    return parking
