"""service/runtime/gunicorn_worker.py copies one method of gunicorn's threaded worker and overrides or relies on
others. This fails when the installed gunicorn's source of any of them differs from the version that was read
(27.0.1): re-read the changed method against our worker, then update its fingerprint here."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

import gunicorn
import pytest
from gunicorn.http import unreader
from gunicorn.workers import gthread

# What our worker copies (handle_request), overrides (the rest of ThreadWorker's) or calls into (TConn, Unreader),
# each with the first 16 hex digits of the SHA-256 of its source in gunicorn 27.0.1.
READ_UPSTREAM: dict[str, tuple[Callable[..., Any], str]] = {
    "ThreadWorker.handle_request (copied)": (gthread.ThreadWorker.handle_request, "6d0de5b919102efc"),
    "ThreadWorker.handle": (gthread.ThreadWorker.handle, "ca85c9be3df75da4"),
    "ThreadWorker.enqueue_req": (gthread.ThreadWorker.enqueue_req, "c9f428953d24acef"),
    "ThreadWorker.finish_request": (gthread.ThreadWorker.finish_request, "616e7bb15a009ff7"),
    "ThreadWorker._keepalive_after": (gthread.ThreadWorker._keepalive_after, "4ebdbbc8bf5aafa5"),
    "ThreadWorker.murder_keepalived": (gthread.ThreadWorker.murder_keepalived, "4459960c4ccc36d4"),
    "ThreadWorker.accept": (gthread.ThreadWorker.accept, "f8dcead3dce5c851"),
    "ThreadWorker.run": (gthread.ThreadWorker.run, "f92c7394d85715a4"),
    "TConn.init": (gthread.TConn.init, "5ff3d4ba451cfdf3"),
    "Unreader.unread": (unreader.Unreader.unread, "8e325744dfcaca7f"),
    "Unreader.take_buffered": (unreader.Unreader.take_buffered, "89cef5e60e6f09e1"),
}


def test_the_pinned_gunicorn_is_the_one_the_worker_was_read_against() -> None:
    assert gunicorn.__version__ == "27.0.1"


@pytest.mark.parametrize("name", sorted(READ_UPSTREAM))
def test_upstream_code_the_worker_relies_on_is_unchanged(name: str) -> None:
    method, fingerprint = READ_UPSTREAM[name]
    found = hashlib.sha256(inspect.getsource(method).encode()).hexdigest()[:16]
    assert found == fingerprint, (f"gunicorn's {name} changed ({found}): re-read it against "
                                  "service/runtime/gunicorn_worker.py, then update its fingerprint")
