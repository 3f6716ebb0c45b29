"""Reading a hit's body off the connection: whole, within the stream's size limit, within a time limit.

A payload is stored exactly as sent or not at all. So a body shorter than its `Content-Length` (the
sender hung up or half-closed mid-body), a broken chunked framing, or a body that stops arriving is
refused here and never reaches the sink cut short. Werkzeug's own reader is not used: it returns a short
body without a word when the connection ends early, and it lets gunicorn's framing errors escape as 500s.
"""

from __future__ import annotations

import codecs
import contextlib
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from gunicorn.http.errors import ParseException

from service.runtime.refusals import Rejected

READ_PIECE_BYTES = 64 * 1024
# A whole body must arrive within this time once the headers are in. A CRM sends its body at once; a
# client that dribbles bytes would otherwise hold one of the instance's threads for as long as it likes.
BODY_TIMEOUT_SECONDS = 10.0
# How much later than its deadline a body may be refused: the socket's own timeout is kept while it is
# within this of the time left (see read_body).
TIMEOUT_SLACK_SECONDS = 0.1


def too_large(max_bytes: int) -> Rejected:
    return Rejected(413, "body_too_large", f"body is larger than this stream's limit of {max_bytes} bytes")


def declared_length(environ: Mapping[str, Any]) -> int | None:
    """The request's `Content-Length`, or None when it has none (chunked, or no body)."""
    text = environ.get("CONTENT_LENGTH") or ""
    if not text:
        return None
    if not text.isdigit():
        raise Rejected(400, "bad_content_length", "the Content-Length header is not a whole number of bytes")
    return int(text)


def read_body(environ: Mapping[str, Any], max_bytes: int, timeout_seconds: float = BODY_TIMEOUT_SECONDS,
              clock: Callable[[], float] = time.monotonic) -> bytes:
    """The complete body, or `Rejected` (400 incomplete or unreadable, 408 too slow, 413 too large)."""
    declared = declared_length(environ)
    if declared is not None and declared > max_bytes:
        raise too_large(max_bytes)  # refused before a byte of it is read
    # Without a Content-Length (chunked) read one byte past the limit to tell "fits" from "too large".
    wanted = declared if declared is not None else max_bytes + 1
    stream = environ["wsgi.input"]
    # gunicorn hands the application its socket; bounding each read by the time left bounds the whole
    # body. (The Flask test client has no socket: its bodies are in memory.)
    sock: socket.socket | None = environ.get("gunicorn.socket")
    prior_timeout = sock.gettimeout() if sock is not None else None
    current_timeout = prior_timeout
    deadline = clock() + timeout_seconds
    pieces: list[bytes] = []
    received = 0
    try:
        while received < wanted:
            if sock is not None:
                remaining = deadline - clock()
                if remaining <= 0:
                    raise TimeoutError
                # settimeout is a syscall (an ioctl, with the GIL released). The socket usually has
                # gunicorn_worker's read timeout already, the same setting as this one: shorten it only when a
                # read could otherwise end later than the body's deadline allows.
                if current_timeout is None or current_timeout > remaining + TIMEOUT_SLACK_SECONDS:
                    sock.settimeout(remaining)
                    current_timeout = remaining
            piece = stream.read(min(READ_PIECE_BYTES, wanted - received))
            if not piece:
                break
            pieces.append(piece)
            received += len(piece)
    except TimeoutError:
        raise Rejected(408, "body_timeout", f"the body did not arrive within {timeout_seconds:g} s; "
                       "send the whole request at once") from None
    except (OSError, ValueError, ParseException):
        # gunicorn's NoMoreData (the connection ended mid-chunk) is an OSError; a bad chunk size or
        # terminator is a ParseException. Neither is the service's fault, and nothing was stored.
        raise Rejected(400, "body_unreadable", "the body could not be read: its chunked framing is broken or "
                       "the connection closed before it ended; send the complete body again") from None
    finally:
        if sock is not None and current_timeout != prior_timeout:
            with contextlib.suppress(OSError):  # the peer may have reset the connection meanwhile
                sock.settimeout(prior_timeout)
    if declared is not None and received < declared:
        raise Rejected(400, "incomplete_body", f"the body ended after {received} of the {declared} bytes its "
                       "Content-Length announced (the connection closed early); send the complete body again")
    if received > max_bytes:
        raise too_large(max_bytes)
    return b"".join(pieces)


def decode_utf8(raw: bytes) -> str:
    """`raw.decode("utf-8")` in slices. Decoding the whole at once first allocates room for four bytes
    per input byte when the text has characters beyond the BMP (emoji): 4 MiB for a 1 MiB body."""
    if len(raw) <= READ_PIECE_BYTES:
        return raw.decode("utf-8")
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(raw)
    try:
        parts = [decoder.decode(view[start:start + READ_PIECE_BYTES])
                 for start in range(0, len(raw), READ_PIECE_BYTES)]
        parts.append(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        raw.decode("utf-8")  # raises again, with the offset counted from the start of the body
        raise
    return "".join(parts)
