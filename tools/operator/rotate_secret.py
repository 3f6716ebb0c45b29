"""`scripts/rotate-secret --stream NAME [--finish]`: rotate a stream's endpoint secret without downtime.

The service accepts every whitespace-separated secret in its secret's latest version, read when an instance
starts. So a rotation is two commands around one change in the CRM:
1. `scripts/rotate-secret --stream NAME`: a new version holding "OLD NEW", a new revision (so new instances
   read it); prints NEW for the CRM.
2. Give the CRM the new secret (token streams: the URL `<service URL>/hooks/NEW`).
3. `scripts/rotate-secret --stream NAME --finish`: a version holding only NEW, a new revision, and the older
   versions disabled (Terraform ignores the `enabled` flag of the version it created, so that sticks).
Every gcloud call names --project; a secret travels on stdin, never on a command line. Anything unexpected
stops the command before a version is added, and says that nothing changed.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from infra.config import ConfigError
from infra.naming import StreamNames
from infra.release_target import release_target
from infra.stream_list import load_streams

PROG = "scripts/rotate-secret"
TOKEN_FORM = re.compile(r"^[0-9a-f]{64}$")
WHSEC_FORM = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")
# A current secret: one word of 32+ characters (what deploy generates: 64 alphanumerics or whsec_...).
SINGLE_SECRET = re.compile(r"^\S{32,}$")
STANDARD_WEBHOOKS_BYTES = 32
GCLOUD_TIMEOUT_SECONDS = 120


class RotationError(RuntimeError):
    """The rotation stopped; the message says what was (not) changed and what to do."""


@dataclass(frozen=True)
class Target:
    project: str
    region: str
    secret: str
    service: str


def new_secret_like(old: str) -> str:
    """The old secret's form: whsec_ + base64 of 32 random bytes, or 64 hex characters."""
    if old.startswith("whsec_"):
        return "whsec_" + base64.b64encode(secrets.token_bytes(STANDARD_WEBHOOKS_BYTES)).decode()
    return secrets.token_hex(32)


def is_new_form(secret: str) -> bool:
    return bool(TOKEN_FORM.match(secret) or WHSEC_FORM.match(secret))


def gcloud(args: Sequence[str], stdin: str | None = None) -> str:
    try:
        result = subprocess.run(["gcloud", *args], input=stdin, capture_output=True, text=True,
                                timeout=GCLOUD_TIMEOUT_SECONDS, check=False)
    except FileNotFoundError:
        raise RotationError("gcloud is not installed (Google Cloud CLI): nothing changed") from None
    if result.returncode != 0:
        # gcloud's error names the resource, never the secret's value (it was on stdin, if anywhere).
        reason = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RotationError(f"gcloud {' '.join(args[:3])} failed: {reason}")
    return result.stdout


def _latest(target: Target) -> str:
    return gcloud(["secrets", "versions", "access", "latest", "--secret", target.secret,
                   "--project", target.project])


def _add_version(target: Target, value: str) -> str:
    """Adds a version; returns its resource name (projects/N/secrets/S/versions/V)."""
    return gcloud(["secrets", "versions", "add", target.secret, "--data-file=-", "--project", target.project,
                   "--format=value(name)"], stdin=value).strip()


def _new_revision(target: Target) -> None:
    # Only a label: a new revision whose instances read the latest version. The next deploy drops it.
    gcloud(["run", "services", "update", target.service, "--region", target.region, "--project", target.project,
            f"--update-labels=secret-rotated={time.strftime('%Y%m%d%H%M', time.gmtime())}"])


def start(target: Target) -> str:
    """Step 1: accept the old and a new secret. Returns the new one."""
    old = _latest(target)
    if not SINGLE_SECRET.match(old):
        raise RotationError(f"the latest version of {target.secret} is not one secret of 32+ characters (a "
                            f"rotation under way? finish it: {PROG} --stream ... --finish); nothing changed")
    new = new_secret_like(old)
    if not is_new_form(new):  # never store a weak secret, whatever went wrong
        raise RotationError("could not generate a secret of the expected form; nothing changed")
    _add_version(target, f"{old} {new}")
    _new_revision(target)
    return new


def finish(target: Target) -> list[str]:
    """Step 3: accept only the new secret, then disable the older versions. Returns the disabled ones."""
    words = _latest(target).split()
    if len(words) != 2 or not is_new_form(words[1]):
        raise RotationError(f"the latest version of {target.secret} is not the 'old new' pair that "
                            f"`{PROG} --stream ...` adds; nothing changed")
    added = _add_version(target, words[1])
    _new_revision(target)
    enabled = gcloud(["secrets", "versions", "list", target.secret, "--project", target.project,
                      "--filter=state:ENABLED", "--format=value(name)"]).split()
    older = [version for version in enabled if version != added and version.rsplit("/", 1)[-1] != added]
    for version in older:
        gcloud(["secrets", "versions", "disable", version.rsplit("/", 1)[-1], "--secret", target.secret,
                "--project", target.project])
    return older


def target_for(stream_name: str, env_name: str | None) -> Target:
    streams = {stream.name: stream for stream in load_streams(PROG)}
    if stream_name not in streams:
        raise RotationError(f"no stream {stream_name!r} in infra/streams.py; streams: {', '.join(streams)}")
    stream = streams[stream_name]
    if stream.auth.mode == "none":
        raise RotationError(f"stream {stream_name!r} has auth mode 'none': it has no secret to rotate")
    from infra.environments import ENVIRONMENTS

    environ = {**os.environ, **({"HOOKSTREAM_ENV": env_name} if env_name else {})}
    where = release_target(environ, ENVIRONMENTS)
    names = StreamNames.of(stream)
    return Target(where["project"], where["region"], names.secret_id, names.cloud_run_service)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stream", required=True, help="the stream whose endpoint secret to rotate")
    parser.add_argument("--env", help="environment of infra/environments.py (when there are several)")
    parser.add_argument("--finish", action="store_true", help="step 3: keep only the new secret")
    args = parser.parse_args(argv)
    try:
        target = target_for(args.stream, args.env)
        if args.finish:
            disabled = finish(target)
            print(f"{target.secret}: only the new secret is accepted from now on; disabled older versions: "
                  f"{', '.join(v.rsplit('/', 1)[-1] for v in disabled) or 'none'}", file=sys.stderr)
        else:
            new = start(target)
            print(f"{target.secret}: the old and the new secret are both accepted. Give the CRM the new one, "
                  f"then run: {PROG} --stream {args.stream} --finish", file=sys.stderr)
            print(new)  # stdout: the new secret only, for the operator to hand to the CRM
    except (RotationError, ConfigError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
