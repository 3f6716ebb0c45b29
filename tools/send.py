"""`scripts/send`: send one correctly authenticated test hit to a stream's endpoint and show the answer.

For a CRM admin who wants to see what a valid call looks like: prints the request it sends (headers
included, the secret masked) and the endpoint's answer. Local endpoints and secrets come from .dev/;
for a deployed endpoint pass --url and put the secret in the HOOKSTREAM_SECRET environment variable
(not on the command line, where other users of the machine could read it).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from infra.stream_list import load_streams
from service.model.auth_settings import Auth, HmacAuth, StandardWebhooksAuth, TokenAuth, signed_message
from service.model.stream import Stream
from service.runtime.auth import decode_whsec
from tools.local.processes import REPO_ROOT


def signed_headers(auth: Auth, secret: str, body: bytes, now: int, delivery_id: str) -> dict[str, str]:
    """The headers a CRM configured like `auth` would send with `body` (the inverse of service/runtime/auth.py)."""
    if isinstance(auth, TokenAuth):
        return {"Authorization": f"Bearer {secret}"}
    if isinstance(auth, StandardWebhooksAuth):
        mac = hmac.new(decode_whsec(secret), f"{delivery_id}.{now}.".encode() + body, hashlib.sha256)
        return {"webhook-id": delivery_id, "webhook-timestamp": str(now),
                "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode()}
    if isinstance(auth, HmacAuth):
        headers = {}
        digest = hmac.new(secret.encode(), signed_message(auth, body, str(now), delivery_id),
                          getattr(hashlib, auth.algorithm)).digest()
        encoded = digest.hex() if auth.encoding == "hex" else base64.b64encode(digest).decode()
        headers[auth.header] = auth.prefix + encoded
        if "{timestamp}" in auth.signed:
            headers[auth.timestamp_header] = str(now)
        if auth.delivery_id_header:
            headers[auth.delivery_id_header] = delivery_id
        return headers
    return {}


def _mask(text: str, secret: str) -> str:
    return text.replace(secret, "<secret>") if secret else text


def main(argv: list[str] | None = None) -> int:
    streams = load_streams("scripts/send")
    parser = argparse.ArgumentParser(prog="scripts/send", description=__doc__.splitlines()[0])
    parser.add_argument("--stream", required=True, choices=[s.name for s in streams])
    parser.add_argument("body", help="the body to send, or @FILE to send a file's bytes")
    parser.add_argument("--url", help="endpoint URL (default: the local one from .dev/endpoints.json)")
    parser.add_argument("--content-type", help="default: application/json for a body starting with '{', "
                                                "else application/x-www-form-urlencoded")
    parser.add_argument("--method", default="POST", choices=("POST", "PUT"))
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("HOOKSTREAM_DEV_DIR", REPO_ROOT / ".dev")))
    args = parser.parse_args(argv)
    stream: Stream = next(s for s in streams if s.name == args.stream)

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
    headers = {"Content-Type": args.content_type or (
        "application/json" if body.lstrip().startswith(b"{") else "application/x-www-form-urlencoded")}
    if not (isinstance(stream.auth, TokenAuth) and secret and secret in url):
        headers.update(signed_headers(stream.auth, secret, body, int(time.time()), f"msg_{uuid.uuid4().hex}"))

    print(f"> {args.method} {_mask(url, secret)}")
    for name, value in headers.items():
        print(f"> {name}: {_mask(value, secret)}")
    print(f">\n> {body.decode('utf-8', 'replace')}\n")
    request = urllib.request.Request(url, data=body, headers=headers, method=args.method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read()
    except OSError as error:
        print(f"scripts/send: could not reach the endpoint: {error}", file=sys.stderr)
        return 2
    print(f"< {status}\n< {answer.decode('utf-8', 'replace').strip()}")
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
