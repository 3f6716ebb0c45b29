"""Answering a request later, from another thread, without holding a thread while it waits.

A hit's answer depends on its row's verdict, which arrives with the group commit that carries it. A
request thread that blocked for it cost a sleep and a wake-up, and a wait for the GIL, per hit: ~70 us of
CPU per hit on one core (docs/benchmark.md). Under our gunicorn worker
(service/runtime/gunicorn_worker.py) the request being served has a `Parking` (`current_parking()`): the
view parks the request, submits its row, and returns the placeholder; the thread serves the next
request; the answer is written when the verdict comes. Elsewhere (the Flask test client, another server)
there is none, and the view waits for the verdict: the answers are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Protocol

from flask import Response


class Parking(Protocol):
    parked: bool  # True between park() and the end of the request's view (unless cancelled)

    def park(self) -> Callable[[Response], None]:
        """Mark the request answered later; returns the function that answers it (call it exactly once,
        from any thread). The view then returns `placeholder()`, which is never sent."""

    def placeholder(self) -> Response:
        """What a parked view returns to Flask: the server drops it and sends the real answer later."""

    def cancel(self) -> None:
        """Undo `park` before the answer function was handed to anyone: the view answers as usual."""

    def run_blocking(self, job: Callable[[], None]) -> None:
        """Run `job` on one of the server's threads, where it may block."""


# Set by the worker around each request it serves (the view runs in the same thread and context).
_CURRENT: ContextVar[Parking | None] = ContextVar("hookstream_parking", default=None)


def current_parking() -> Parking | None:
    """The Parking of the request being served, where the server offers one."""
    return _CURRENT.get()


def offer_parking(parking: Parking) -> Callable[[], None]:
    """Make `parking` the current request's (the worker, around the app's call); returns the undo."""
    token = _CURRENT.set(parking)
    return lambda: _CURRENT.reset(token)
