"""`scripts/send`: send one correctly authenticated test hit to a stream's endpoint and show the answer.

For a CRM admin who wants to see what a valid call looks like: prints the request it sends (headers
included, the secret masked) and the endpoint's answer. Local endpoints and secrets come from .dev/;
for a deployed endpoint pass --url and put the secret in the HOOKSTREAM_SECRET environment variable
(not on the command line, where other users of the machine could read it).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets as random_secrets
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from infra.stream_list import load_streams
from service.model.stream import Stream
from tools.local.processes import REPO_ROOT
from tools.operator.sender_requests import ShapedRequest, handshake_request, sample_body, shape_request, signed_headers

__all__ = ["main", "signed_headers"]


def _mask(text: str, secret: str) -> str:
    return text.replace(secret, "<secret>") if secret else text


def _content_type(body: bytes) -> str:
    start = body.lstrip()[:1]
    if start in (b"{", b"["):
        return "application/json"
    return "text/xml; charset=utf-8" if start == b"<" else "application/x-www-form-urlencoded"


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip() or " " in name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not 'NAME: VALUE', e.g. 'X-Shopify-Topic: orders/paid'")
    return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> int:
    streams = load_streams("scripts/send")
    parser = argparse.ArgumentParser(prog="scripts/send", description=__doc__.splitlines()[0])
    parser.add_argument("--stream", required=True, choices=[s.name for s in streams])
    parser.add_argument("body", nargs="?", help="the body to send, or @FILE to send a file's bytes "
                        "(default: a realistic sample for the stream's sender, from tools/operator/samples/)")
    parser.add_argument("--url", help="endpoint URL (default: the local one from .dev/endpoints.json)")
    parser.add_argument("--content-type", help="default: application/json for a body starting with '{' or '[', "
                                                "text/xml for '<', else application/x-www-form-urlencoded")
    parser.add_argument("--handshake", action="store_true",
                        help="send the sender's verification handshake instead of an event (Keap, monday)")
    parser.add_argument("--method", default="POST", choices=("POST", "PUT"))
    parser.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'", type=_header,
                        help="also send this header, as the sender would (e.g. 'X-Shopify-Topic: orders/paid'); "
                             "repeatable; the signature headers are computed, not taken from here")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("HOOKSTREAM_DEV_DIR", REPO_ROOT / ".dev")))
    args = parser.parse_args(argv)
    stream: Stream = next(s for s in streams if s.name == args.stream)

    if args.body is None:
        body = sample_body(stream.auth)
    else:
        body = Path(args.body[1:]).read_bytes() if args.body.startswith("@") else args.body.encode()
    url = args.url
    secret = os.environ.get("HOOKSTREAM_SECRET", "")
    if url is not None and not secret and stream.auth.mode != "none":
        # The local secret would be wrong for any other endpoint: say so instead of sending a doomed call.
        print(f"scripts/send: --url given but HOOKSTREAM_SECRET is not set: set it to the secret of "
              f"{stream.name!r} at that endpoint (auth mode {stream.auth.mode!r}), e.g. "
              f"HOOKSTREAM_SECRET=... scripts/send --stream {stream.name} --url URL BODY", file=sys.stderr)
        return 2
    if url is None or not secret:
        try:
            url = url or json.loads((args.dir / "endpoints.json").read_text())[stream.name]
            if not secret and stream.auth.mode != "none":
                secret = json.loads((args.dir / "secrets.json").read_text())[stream.name]
        except (OSError, KeyError) as error:
            print(f"scripts/send: no local endpoint or secret for {stream.name!r} ({error}); start scripts/dev, "
                  "or pass --url and set HOOKSTREAM_SECRET", file=sys.stderr)
            return 2
    shaped: ShapedRequest | None
    if args.handshake:
        shaped = handshake_request(stream.auth, secret, url, random_secrets.token_hex(16))
        if shaped is None:
            print(f"scripts/send: stream {stream.name!r} (auth mode {stream.auth.mode!r}) has no handshake; "
                  "Keap() and Monday() streams do", file=sys.stderr)
            return 2
    else:
        shaped = shape_request(stream.auth, secret, url, body, time.time(), f"msg_{uuid.uuid4().hex}", args.method)
    headers = {"Content-Type": args.content_type or _content_type(shaped.body), **dict(args.header),
               **shaped.headers}
    url, body = shaped.url, shaped.body
    print(f"> {shaped.method} {_mask(url, secret)}")
    for name, value in headers.items():
        # Basic credentials are the secret in base64: never printed, whatever the scheme.
        shown = value.split(" ")[0] + " <secret>" if name == "Authorization" else _mask(value, secret)
        print(f"> {name}: {shown}")
    print(f">\n> {_mask(body.decode('utf-8', 'replace'), secret)}\n")
    request = urllib.request.Request(url, data=body, headers=headers, method=shaped.method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer, answer_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, answer, answer_headers = error.code, error.read(), error.headers
    except OSError as error:
        print(f"scripts/send: could not reach the endpoint: {error}", file=sys.stderr)
        return 2
    print(f"< {status}")
    for name in ("Content-Type", "X-Hook-Secret"):  # what a sender checks besides the body
        if answer_headers.get(name):
            print(f"< {name}: {answer_headers[name]}")
    print(f"< {answer.decode('utf-8', 'replace').strip()}")
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
