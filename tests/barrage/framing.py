"""Raw HTTP/1.1 requests for the framing barrage (`scripts/fuzz`, tests/tools/test_framing.py), from a seed.

Each case is the exact bytes a client puts on the wire, how it ends the connection (waits for the
answer, half-closes, or hangs up) and what a correct server may do with it:
- STORE: a valid hit; answered 2xx and stored with exactly `payload`.
- MAY_STORE: unusual but legal framing (folded, huge or many headers, a body longer than its
  Content-Length...): either refused, or stored with exactly `payload`.
- REFUSE: never a 2xx, never a row (wrong token, Content-Length lies, broken chunks, early hang-ups...).
Every body or query carries the case's marker (`hs<number>hs`), so a stray row names its case.
Case N of seed S is the same bytes on every run: `make_case(S, N, target)` rebuilds it.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from urllib.parse import quote, quote_plus

MARKER = re.compile(r"hs(\d+)hs")
# How many bytes of dribble (slow sender) pauses a case may add in total: keeps a run bounded.
MAX_DRIBBLE_SECONDS = 0.25


class Expect(Enum):
    STORE = "store"
    MAY_STORE = "may_store"
    REFUSE = "refuse"


class Ending(Enum):
    READ = "read"  # send everything, keep the connection open, read the answer
    HALF_CLOSE = "half_close"  # send, shutdown(SHUT_WR), read the answer (or see the server close)
    CLOSE = "close"  # send, then close without reading anything (an early disconnect)


@dataclass(frozen=True)
class Piece:
    data: bytes
    pause_after: float = 0.0  # seconds slept after sending this piece (a slow sender)


@dataclass(frozen=True)
class Target:
    """The stream under test: its token (TokenAuth) and body limit."""

    token: str
    max_body_bytes: int


@dataclass(frozen=True)
class Case:
    number: int
    fault: str
    pieces: tuple[Piece, ...]
    ending: Ending
    expect: Expect
    payload: str | None  # what a correct server stores, for STORE and MAY_STORE
    note: str = ""  # what is special about this one, for a person reading a failure

    @property
    def wire(self) -> bytes:
        return b"".join(piece.data for piece in self.pieces)

    @property
    def marker(self) -> str:
        return marker(self.number)

    def describe(self, token: str, limit: int = 160) -> str:
        """One line for a report; the token is masked so a report never carries it."""
        wire = self.wire
        shown = repr(wire[:limit])[2:-1] + (f"... ({len(wire)} bytes)" if len(wire) > limit else "")
        return (f"case {self.number} [{self.fault}] {self.note + ' ' if self.note else ''}"
                f"ending={self.ending.value}: {shown.replace(token, '<token>')}")


def marker(number: int) -> str:
    return f"hs{number}hs"


# -- building blocks ------------------------------------------------------------------------------

TEXT_ALPHABET = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * 3
                 + " &=%+;:,.-_/?#'\"<>{}[]\\|!$*()@~^`" + "äöüßÄÖÜéèçñ€£漢字かなДжΩ🙂🚀" + "e\u0301" + "\t\r\n")
STATUSES = ("new", "paid", "shipped", "delivered", "refunded", "cancelled")


def random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(TEXT_ALPHABET) for _ in range(size))


def random_body(rng: random.Random, mark: str, size_hint: int) -> tuple[str, str]:
    """(content type, body) of a kind a CRM sends; the body starts with the marker (a cut body keeps it)."""
    text = random_text(rng, size_hint)
    order = f"N{rng.randrange(1, 10**6)}"
    kind = rng.randrange(4)
    if kind == 0:
        body = (f"m={mark}&orderId={order}&status={rng.choice(STATUSES)}&total={rng.randrange(10**5) / 100}"
                f"&note={quote_plus(text)}")
        return rng.choice(["application/x-www-form-urlencoded",
                           "application/x-www-form-urlencoded; charset=utf-8"]), body
    if kind == 1:
        document = {"m": mark, "orderId": order, "status": rng.choice(STATUSES), "note": text}
        return "application/json", json.dumps(document, ensure_ascii=rng.random() < 0.5)
    if kind == 2:
        escaped = text.replace("&", "&amp;").replace("<", "&lt;")
        return "text/xml; charset=UTF-8", f"<order m='{mark}' id='{order}'><note>{escaped}</note></order>"
    return "text/plain", f"{mark}{text}"


def random_query(rng: random.Random, mark: str) -> str:
    text = random_text(rng, rng.randrange(0, 60))
    return f"orderId=N{rng.randrange(1, 10**6)}&status={rng.choice(STATUSES)}&note={quote(text, safe='')}&m={mark}"


def head(method: str, target: str, headers: list[tuple[str, str]], version: str = "HTTP/1.1") -> bytes:
    lines = [f"{method} {target} {version}", "Host: 127.0.0.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def auth_parts(rng: random.Random, token: str) -> tuple[str, list[tuple[str, str]]]:
    """The path and headers of a correctly authenticated hit: token in the path, or a Bearer header."""
    if rng.random() < 0.6:
        return f"/hooks/{token}", []
    return rng.choice(["/hooks", "/hooks/"]), [(rng.choice(["Authorization", "authorization"]), f"Bearer {token}")]


def chunked(body: bytes, rng: random.Random, extensions: bool = False, trailers: bool = False) -> bytes:
    """`body` in chunks of random sizes (hex sizes, random case), with the last chunk and optional trailers."""
    out = bytearray()
    position = 0
    while position < len(body):
        size = min(len(body) - position, rng.choice([1, 2, 7, 16, 100, 1000, len(body)]))
        size_text = format(size, "x")
        size_text = size_text.upper() if rng.random() < 0.5 else size_text
        ext = f";ext{rng.randrange(9)}=v" if extensions and rng.random() < 0.5 else ""
        out += f"{size_text}{ext}\r\n".encode() + body[position:position + size] + b"\r\n"
        position += size
    out += b"0\r\n"
    out += b"X-Trailer: done\r\n\r\n" if trailers else b"\r\n"
    return bytes(out)


def extra_headers(rng: random.Random) -> list[tuple[str, str]]:
    pool = [("User-Agent", "crm-webhooks/2.1"), ("Accept", "*/*"), ("X-Request-Id", str(rng.randrange(10**9))),
            ("Accept-Encoding", "gzip, deflate"), ("Connection", "keep-alive"), ("Connection", "close")]
    return rng.sample(pool, rng.randrange(0, 3))


@dataclass(frozen=True)
class Hit:
    """A valid hit before framing: method, path, headers (auth and content type) and the body."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    payload: str


def valid_hit(rng: random.Random, target: Target, number: int, size_hint: int | None = None) -> Hit:
    path, headers = auth_parts(rng, target.token)
    mark = marker(number)
    content_type, body = random_body(rng, mark, rng.choice([0, 5, 30, 200]) if size_hint is None else size_hint)
    if len(body.encode()) > target.max_body_bytes:
        body = f"m={mark}"
    if rng.random() < 0.9:
        headers = [*headers, (rng.choice(["Content-Type", "content-type"]), content_type)]
    return Hit(rng.choice(["POST", "POST", "POST", "PUT"]), path, headers + extra_headers(rng), body.encode(), body)


def with_length(hit: Hit, rng: random.Random) -> bytes:
    name = rng.choice(["Content-Length", "content-length", "CONTENT-LENGTH"])
    return head(hit.method, hit.path, [*hit.headers, (name, str(len(hit.body)))]) + hit.body


def one_piece(data: bytes) -> tuple[Piece, ...]:
    return (Piece(data),)


# -- the fault classes ----------------------------------------------------------------------------
# Each takes the case's own random generator, the target and the case number.

Builder = Callable[[random.Random, Target, int], Case]


def valid_content_length(rng: random.Random, target: Target, number: int) -> Case:
    hit = valid_hit(rng, target, number)
    return Case(number, "valid_content_length", one_piece(with_length(hit, rng)), Ending.READ, Expect.STORE,
                hit.payload)


def valid_chunked(rng: random.Random, target: Target, number: int) -> Case:
    hit = valid_hit(rng, target, number)
    extensions, trailers = rng.random() < 0.3, rng.random() < 0.3
    wire = head(hit.method, hit.path, [*hit.headers, ("Transfer-Encoding", rng.choice(["chunked", "Chunked"]))])
    wire += chunked(hit.body, rng, extensions, trailers)
    note = " ".join(name for name, used in (("extensions", extensions), ("trailers", trailers)) if used)
    return Case(number, "valid_chunked", one_piece(wire), Ending.READ, Expect.STORE, hit.payload, note=note)


def valid_get(rng: random.Random, target: Target, number: int) -> Case:
    path, headers = auth_parts(rng, target.token)
    query = random_query(rng, marker(number))
    wire = head("GET", f"{path}?{query}", headers + extra_headers(rng))
    return Case(number, "valid_get", one_piece(wire), Ending.READ, Expect.STORE, query)


def valid_then_half_close(rng: random.Random, target: Target, number: int) -> Case:
    """A complete request, then shutdown(SHUT_WR): the server has it all and must still answer."""
    hit = valid_hit(rng, target, number)
    return Case(number, "valid_then_half_close", one_piece(with_length(hit, rng)), Ending.HALF_CLOSE,
                Expect.STORE, hit.payload)


def valid_expect_continue(rng: random.Random, target: Target, number: int) -> Case:
    hit = valid_hit(rng, target, number)
    hit = replace(hit, headers=[*hit.headers, ("Expect", "100-continue")])
    return Case(number, "valid_expect_continue", one_piece(with_length(hit, rng)), Ending.READ, Expect.STORE,
                hit.payload)


def valid_http10(rng: random.Random, target: Target, number: int) -> Case:
    hit = valid_hit(rng, target, number)
    wire = head(hit.method, hit.path, [*hit.headers, ("Content-Length", str(len(hit.body)))], "HTTP/1.0") + hit.body
    return Case(number, "valid_http10", one_piece(wire), Ending.READ, Expect.STORE, hit.payload)


def valid_at_the_limit(rng: random.Random, target: Target, number: int) -> Case:
    mark = marker(number)
    body = mark + "x" * (target.max_body_bytes - len(mark))
    path, headers = auth_parts(rng, target.token)
    hit = Hit("POST", path, headers, body.encode(), body)
    if rng.random() < 0.5:
        wire = with_length(hit, rng)
    else:
        wire = head("POST", path, [*headers, ("Transfer-Encoding", "chunked")]) + chunked(hit.body, rng)
    return Case(number, "valid_at_the_limit", one_piece(wire), Ending.READ, Expect.STORE, body)


def wrong_token(rng: random.Random, target: Target, number: int) -> Case:
    hit = valid_hit(rng, target, number)
    token = target.token
    # None of these contains the real token, so "token seen in logs" counts only real leaks.
    wrong = rng.choice([token[:-1], token[::-1], "x" * len(token), "not-the-secret", token[1:] + token[0]])
    place = rng.randrange(4)
    if place == 0:
        path, headers = f"/hooks/{wrong}", []
    elif place == 1:
        path, headers = "/hooks", [("Authorization", f"Bearer {wrong}")]
    elif place == 2:
        path, headers = "/hooks", [("Authorization", rng.choice(["Bearer", "Basic abc", "", f"Token {token[:4]}"]))]
    else:
        path, headers = "/hooks", []
    hit = replace(hit, path=path, headers=[h for h in hit.headers if h[0].lower() != "authorization"] + headers)
    return Case(number, "wrong_token", one_piece(with_length(hit, rng)), Ending.READ, Expect.REFUSE, None,
                note=f"place={place}")


def bad_request_line(rng: random.Random, target: Target, number: int) -> Case:
    token, mark = target.token, marker(number)
    body = f"m={mark}".encode()
    tail = f"Host: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    lines = [
        f"POST /hooks/{token}",  # no version
        f"POST /hooks/{token} HTTP/2.0",
        f"POST /hooks/{token} HTTP/1",
        f"POST /hooks/{token} HTXP/1.1",
        f"post /hooks/{token} HTTP/1.1",
        f"P@ST /hooks/{token} HTTP/1.1",
        f"POST hooks/{token} HTTP/1.1",
        f"POST /hooks/{token}?m={mark}&a=\x7f HTTP/1.1",
        f"POST /hooks/{token} bad HTTP/1.1",
        f"POST /hooks/{token}?{'a' * 9000} HTTP/1.1",  # a request line over gunicorn's 4094 bytes
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on the plain port
        "",
    ]
    line = rng.choice(lines)
    raw = line.encode("latin-1")
    if rng.random() < 0.3:
        raw += b"\xff\x00"
    return Case(number, "bad_request_line", one_piece(raw + b"\r\n" + tail), Ending.READ, Expect.REFUSE, None,
                note=f"line {lines.index(line)}")


def bad_query_bytes(rng: random.Random, target: Target, number: int) -> Case:
    """Raw bytes a URI may not hold: invalid UTF-8, spaces, controls."""
    path, headers = auth_parts(rng, target.token)
    bad = rng.choice([b"\xff\xfe", b"\xc3\x28", b"a\x00b", b"J\xfcrgen", b"a\tb"])
    wire = (f"GET {path}?m={marker(number)}&x=".encode() + bad + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in headers).encode() + b"\r\n")
    return Case(number, "bad_query_bytes", one_piece(wire), Ending.READ, Expect.REFUSE, None)


def invalid_utf8_body(rng: random.Random, target: Target, number: int) -> Case:
    hit = valid_hit(rng, target, number)
    bad = rng.choice([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"J\xfcrgen", b"\xf8\x88\x80\x80\x80"])
    cut = rng.randrange(len(hit.body) + 1)
    hit = replace(hit, body=hit.body[:cut] + bad + hit.body[cut:])
    return Case(number, "invalid_utf8_body", one_piece(with_length(hit, rng)), Ending.READ, Expect.REFUSE, None)


def empty_or_missing_body(rng: random.Random, target: Target, number: int) -> Case:
    path, headers = auth_parts(rng, target.token)
    kind = rng.randrange(3)
    if kind == 0:
        wire = head("POST", path, [*headers, ("Content-Length", "0")])
    elif kind == 1:
        wire = head("POST", path, [*headers, ("Transfer-Encoding", "chunked")]) + b"0\r\n\r\n"
    else:
        wire = head("GET", path, headers)  # a GET without a query string
    return Case(number, "empty_body", one_piece(wire), Ending.READ, Expect.REFUSE, None, note=f"kind={kind}")


def body_without_length(rng: random.Random, target: Target, number: int) -> Case:
    """A body with neither Content-Length nor Transfer-Encoding, then half-close: by RFC 9112 the
    request has no body (it is an empty POST) and the bytes after it are not a body to store."""
    path, headers = auth_parts(rng, target.token)
    wire = head("POST", path, headers) + f"orderId=N1&m={marker(number)}".encode()
    return Case(number, "body_without_length", one_piece(wire), Ending.HALF_CLOSE, Expect.REFUSE, None)


def oversize_body(rng: random.Random, target: Target, number: int) -> Case:
    mark = marker(number)
    body = (mark + "y" * (target.max_body_bytes + rng.choice([1, 2, 100, 5000]))).encode()
    path, headers = auth_parts(rng, target.token)
    kind = rng.randrange(3)
    if kind == 0:
        wire = head("POST", path, [*headers, ("Content-Length", str(len(body)))]) + body
        ending = Ending.READ
    elif kind == 1:
        wire = head("POST", path, [*headers, ("Transfer-Encoding", "chunked")]) + chunked(body, rng)
        ending = Ending.READ
    else:  # only the header announces the size; the body never comes
        wire = head("POST", path, [*headers, ("Content-Length", str(len(body)))])
        ending = Ending.HALF_CLOSE
    return Case(number, "oversize_body", one_piece(wire), ending, Expect.REFUSE, None, note=f"kind={kind}")


def wrong_method(rng: random.Random, target: Target, number: int) -> Case:
    hit = replace(valid_hit(rng, target, number), method=rng.choice(["DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"]))
    return Case(number, "wrong_method", one_piece(with_length(hit, rng)), Ending.READ, Expect.REFUSE, None,
                note=hit.method)


def content_length_short_half_close(rng: random.Random, target: Target, number: int) -> Case:
    """The body is shorter than Content-Length, and the client half-closes: the body never completes."""
    hit = valid_hit(rng, target, number, size_hint=rng.choice([5, 50, 300]))
    declared = len(hit.body) + rng.choice([1, 10, 90, 1000])
    wire = head(hit.method, hit.path, [*hit.headers, ("Content-Length", str(declared))]) + hit.body
    return Case(number, "content_length_short_half_close", one_piece(wire), Ending.HALF_CLOSE, Expect.REFUSE, None,
                note=f"declared {declared}, sent {len(hit.body)}")


def content_length_short_close(rng: random.Random, target: Target, number: int) -> Case:
    """The body is shorter than Content-Length and the client hangs up (early disconnect mid-body)."""
    case = content_length_short_half_close(rng, target, number)
    return replace(case, fault="content_length_short_close", ending=Ending.CLOSE)


def content_length_long(rng: random.Random, target: Target, number: int) -> Case:
    """More bytes than Content-Length: the body is the declared bytes; the rest is not a request."""
    mark = marker(number)
    path, headers = auth_parts(rng, target.token)
    declared_body = f"m={mark}&status={rng.choice(STATUSES)}"
    extra = rng.choice(["&extra=1", "garbage that is not a request\r\n\r\n", "\x00\x01\x02"])
    wire = head("POST", path, [*headers, ("Content-Length", str(len(declared_body)))])
    wire += (declared_body + extra).encode("latin-1")
    return Case(number, "content_length_long", one_piece(wire), Ending.READ, Expect.MAY_STORE, declared_body)


def content_length_invalid(rng: random.Random, target: Target, number: int) -> Case:
    hit = valid_hit(rng, target, number)
    size = len(hit.body)
    values = [[f"{size}abc"], ["-1"], [f"0x{size:x}"], [f"+{size}"], [f"{size}.0"], [f"{size} {size}"],
              [f"{size},{size + 1}"], [str(size), str(size + 3)], [str(size + 3), str(size)], ["99999999999999999999"],
              [""]]
    chosen = rng.choice(values)
    headers = [*hit.headers, *(("Content-Length", value) for value in chosen)]
    wire = head(hit.method, hit.path, headers) + hit.body
    return Case(number, "content_length_invalid", one_piece(wire), Ending.HALF_CLOSE, Expect.REFUSE, None,
                note=f"Content-Length {chosen}")


def content_length_and_chunked(rng: random.Random, target: Target, number: int) -> Case:
    """Both framings at once, with a second request smuggled behind the chunked body: a correct server
    refuses, or reads the chunked body and then closes; the smuggled request must never become a row."""
    hit = valid_hit(rng, target, number, size_hint=20)
    smuggled_body = f"smuggled=1&m={marker(number)}".encode()
    smuggled = head("POST", f"/hooks/{target.token}", [("Content-Length", str(len(smuggled_body)))]) + smuggled_body
    headers = [("Content-Length", str(len(hit.body) + 5)), ("Transfer-Encoding", "chunked")]
    rng.shuffle(headers)
    wire = head(hit.method, hit.path, [*hit.headers, *headers]) + chunked(hit.body, rng) + smuggled
    return Case(number, "content_length_and_chunked", one_piece(wire), Ending.READ, Expect.REFUSE, None)


def bad_transfer_encoding(rng: random.Random, target: Target, number: int) -> Case:
    hit = valid_hit(rng, target, number)
    value = rng.choice(["chunked, chunked", "identity", "xchunked", "chunked;q=1", "gzip", "chunked, identity"])
    wire = head(hit.method, hit.path, [*hit.headers, ("Transfer-Encoding", value)]) + chunked(hit.body, rng)
    return Case(number, "bad_transfer_encoding", one_piece(wire), Ending.HALF_CLOSE, Expect.REFUSE, None,
                note=value)


def bad_chunk_size(rng: random.Random, target: Target, number: int) -> Case:
    hit = valid_hit(rng, target, number, size_hint=20)
    size_line = rng.choice(["zz", "-5", "0x10", " 5", "", "5 5", "1" * 40, "f" * 20, "5;", "5;=x", "5\x00"])
    body = f"{size_line}\r\n".encode("latin-1") + hit.body + b"\r\n0\r\n\r\n"
    wire = head(hit.method, hit.path, [*hit.headers, ("Transfer-Encoding", "chunked")]) + body
    return Case(number, "bad_chunk_size", one_piece(wire), Ending.HALF_CLOSE, Expect.REFUSE, None,
                note=f"size line {size_line!r}")


def chunk_framing_broken(rng: random.Random, target: Target, number: int) -> Case:
    """Chunk data that does not match its size line, or a missing CRLF after it."""
    hit = valid_hit(rng, target, number, size_hint=30)
    data = hit.body
    kind = rng.randrange(3)
    if kind == 0:  # more data than declared
        chunk = f"{len(data) - 3:x}\r\n".encode() + data + b"\r\n0\r\n\r\n"
    elif kind == 1:  # no CRLF after the data
        chunk = f"{len(data):x}\r\n".encode() + data + b"0\r\n\r\n"
    else:  # bare LF line endings
        chunk = f"{len(data):x}\n".encode() + data + b"\n0\n\n"
    wire = head(hit.method, hit.path, [*hit.headers, ("Transfer-Encoding", "chunked")]) + chunk
    return Case(number, "chunk_framing_broken", one_piece(wire), Ending.HALF_CLOSE, Expect.REFUSE, None,
                note=f"kind={kind}")


def chunked_truncated(rng: random.Random, target: Target, number: int) -> Case:
    """A chunked body cut short (mid-chunk, or without its last chunk), then half-close or hang up."""
    hit = valid_hit(rng, target, number, size_hint=rng.choice([10, 100, 600]))
    whole = chunked(hit.body, rng)
    kind = rng.randrange(3)
    if kind == 0:  # mid-chunk: the size line promises more than follows
        cut = f"{len(hit.body) + 50:x}\r\n".encode() + hit.body
    elif kind == 1:  # every chunk but the last (0) one
        cut = whole[:whole.rindex(b"0\r\n")]
    else:  # the last chunk without the CRLF that ends the trailer section
        cut = whole[:-2]
    ending = rng.choice([Ending.HALF_CLOSE, Ending.HALF_CLOSE, Ending.CLOSE])
    wire = head(hit.method, hit.path, [*hit.headers, ("Transfer-Encoding", "chunked")]) + cut
    return Case(number, "chunked_truncated", one_piece(wire), ending, Expect.REFUSE, None, note=f"kind={kind}")


def early_disconnect(rng: random.Random, target: Target, number: int) -> Case:
    """The client hangs up mid-request: inside the request line, the headers or the body."""
    hit = valid_hit(rng, target, number, size_hint=50)
    wire = with_length(hit, rng)
    header_end = wire.index(b"\r\n\r\n") + 4
    cut = rng.randrange(1, len(wire))  # never the whole request
    where = "headers" if cut < header_end else "body"
    return Case(number, "early_disconnect", one_piece(wire[:cut]), Ending.CLOSE, Expect.REFUSE, None,
                note=f"in the {where}, after {cut} of {len(wire)} bytes")


def duplicate_headers(rng: random.Random, target: Target, number: int) -> Case:
    """Harmless duplicates (same Content-Length twice, two Content-Types, repeated X- headers)."""
    hit = valid_hit(rng, target, number)
    kind = rng.randrange(3)
    if kind == 0:
        headers = [*hit.headers, ("Content-Length", str(len(hit.body))), ("Content-Length", str(len(hit.body)))]
    elif kind == 1:
        headers = [*hit.headers, ("Content-Type", "text/plain"), ("Content-Type", "application/json"),
                   ("Content-Length", str(len(hit.body)))]
    else:
        headers = [*hit.headers, *(("X-Crm-Tag", str(i)) for i in range(rng.randrange(2, 6))),
                   ("Content-Length", str(len(hit.body)))]
    wire = head(hit.method, hit.path, headers) + hit.body
    return Case(number, "duplicate_headers", one_piece(wire), Ending.READ, Expect.MAY_STORE, hit.payload,
                note=f"kind={kind}")


def folded_header(rng: random.Random, target: Target, number: int) -> Case:
    """obs-fold (a header continued on the next line): RFC 9112 lets a server refuse it or unfold it."""
    hit = valid_hit(rng, target, number)
    fold = rng.choice(["\r\n ", "\r\n\t", "\r\n   "])
    headers = [*hit.headers, ("X-Crm-Note", f"first part{fold}second part"), ("Content-Length", str(len(hit.body)))]
    rng.shuffle(headers)
    wire = head(hit.method, hit.path, headers) + hit.body
    return Case(number, "folded_header", one_piece(wire), Ending.READ, Expect.MAY_STORE, hit.payload)


def huge_header(rng: random.Random, target: Target, number: int) -> Case:
    hit = valid_hit(rng, target, number)
    size = rng.choice([4000, 8000, 8200, 16_000, 70_000])
    headers = [*hit.headers, ("X-Crm-Padding", "p" * size), ("Content-Length", str(len(hit.body)))]
    wire = head(hit.method, hit.path, headers) + hit.body
    return Case(number, "huge_header", one_piece(wire), Ending.READ, Expect.MAY_STORE, hit.payload,
                note=f"{size} bytes")


def many_headers(rng: random.Random, target: Target, number: int) -> Case:
    hit = valid_hit(rng, target, number)
    count = rng.choice([20, 90, 101, 150, 1000])
    headers = [*hit.headers, *((f"X-Crm-{i}", str(i)) for i in range(count)), ("Content-Length", str(len(hit.body)))]
    wire = head(hit.method, hit.path, headers) + hit.body
    return Case(number, "many_headers", one_piece(wire), Ending.READ, Expect.MAY_STORE, hit.payload,
                note=f"{count} extra")


def bad_header_syntax(rng: random.Random, target: Target, number: int) -> Case:
    """Header lines no server may take as they are (they could hide framing from a proxy)."""
    hit = valid_hit(rng, target, number)
    size = len(hit.body)
    line = rng.choice([f"Content-Length : {size}", f" Content-Length: {size}", "X Crm: 1", "no colon here",
                       f"Content-Length:\x00{size}", "X-Crm\x7f: 1", ": empty name"])
    head_bytes = head(hit.method, hit.path, [*hit.headers, ("Content-Length", str(size))])
    wire = head_bytes[:-2] + line.encode("latin-1") + b"\r\n\r\n" + hit.body
    return Case(number, "bad_header_syntax", one_piece(wire), Ending.HALF_CLOSE, Expect.REFUSE, None,
                note=repr(line))


# Weights: about a third valid hits (so writes happen under the faults), the rest spread over faults.
FAULTS: dict[str, tuple[Builder, int]] = {
    "valid_content_length": (valid_content_length, 10),
    "valid_chunked": (valid_chunked, 6),
    "valid_get": (valid_get, 4),
    "valid_then_half_close": (valid_then_half_close, 3),
    "valid_expect_continue": (valid_expect_continue, 2),
    "valid_http10": (valid_http10, 2),
    "valid_at_the_limit": (valid_at_the_limit, 2),
    "wrong_token": (wrong_token, 4),
    "bad_request_line": (bad_request_line, 4),
    "bad_query_bytes": (bad_query_bytes, 2),
    "invalid_utf8_body": (invalid_utf8_body, 3),
    "empty_body": (empty_or_missing_body, 2),
    "body_without_length": (body_without_length, 2),
    "oversize_body": (oversize_body, 3),
    "wrong_method": (wrong_method, 2),
    "content_length_short_half_close": (content_length_short_half_close, 4),
    "content_length_short_close": (content_length_short_close, 3),
    "content_length_long": (content_length_long, 3),
    "content_length_invalid": (content_length_invalid, 3),
    "content_length_and_chunked": (content_length_and_chunked, 3),
    "bad_transfer_encoding": (bad_transfer_encoding, 2),
    "bad_chunk_size": (bad_chunk_size, 3),
    "chunk_framing_broken": (chunk_framing_broken, 3),
    "chunked_truncated": (chunked_truncated, 4),
    "early_disconnect": (early_disconnect, 4),
    "duplicate_headers": (duplicate_headers, 3),
    "folded_header": (folded_header, 2),
    "huge_header": (huge_header, 2),
    "many_headers": (many_headers, 2),
    "bad_header_syntax": (bad_header_syntax, 3),
}
VALID_FAULTS = tuple(name for name in FAULTS if name.startswith("valid_"))


def dribble(case: Case, rng: random.Random) -> Case:
    """The same bytes from a slow sender: small pieces with short pauses (at most MAX_DRIBBLE_SECONDS)."""
    wire = case.wire
    pieces: list[Piece] = []
    position, pause_left = 0, MAX_DRIBBLE_SECONDS
    while position < len(wire):
        size = rng.choice([1, 3, 17, 64, 512])
        pause = min(pause_left, rng.choice([0.0, 0.001, 0.005, 0.02]))
        pause_left -= pause
        pieces.append(Piece(wire[position:position + size], pause))
        position += size
    return replace(case, pieces=tuple(pieces), note=(case.note + " slow").strip())


def make_case(seed: int, number: int, target: Target, faults: tuple[str, ...] | None = None) -> Case:
    """Case `number` of run `seed`, drawn from `faults` (default: all) by weight; one in ten is dribbled."""
    rng = random.Random(f"{seed}/{number}")
    names = faults or tuple(FAULTS)
    name = rng.choices(names, weights=[FAULTS[n][1] for n in names])[0]
    case = FAULTS[name][0](rng, target, number)
    if rng.random() < 0.1 and len(case.wire) < 20_000:
        case = dribble(case, rng)
    return case
