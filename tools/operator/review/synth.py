"""Synthesize the streams stack of a source tree (the work tree, or a base commit checked out aside).

Each tree is synthesized by its own Python process with that tree first on sys.path, so the base's own
infra/ code builds the base's stack. Deployment settings are placeholders (the same for both sides) unless
the tree configures environments; the image is a placeholder either way, so a new image is never a change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.engine.setting import CDKTF, ENGINE_ENV, ENGINES

PLACEHOLDERS = {
    "HOOKSTREAM_GCP_PROJECT": "review-placeholder",
    "HOOKSTREAM_REGION": "europe-west3",
}
PLACEHOLDER_IMAGE = "europe-west3-docker.pkg.dev/review-placeholder/hookstream/hookstream:review"
SYNTH_TIMEOUT_SECONDS = 300

# Runs inside the tree being synthesized (its own infra/ package), so only names every version has.
_SYNTH_SCRIPT = """
import json, os, sys
try:
    from infra.environments import ENVIRONMENTS
except ImportError:
    ENVIRONMENTS = ()
if not ENVIRONMENTS:
    for key, value in json.loads(sys.argv[3]).items():
        os.environ.setdefault(key, value)
from infra.app import build_app
build_app(outdir=sys.argv[1]).synth()
from infra import streams
with open(sys.argv[2], "w") as meta:
    json.dump({"allow_data_loss": list(getattr(streams, "ALLOW_DATA_LOSS", ()))}, meta)
"""


class ReviewError(RuntimeError):
    """Review could not run (no base, a tree that does not synthesize); the message says what to do."""


@dataclass(frozen=True)
class Synthesized:
    stack_name: str
    stack: dict[str, Any]
    allow_data_loss: tuple[str, ...]


def streams_stack(outdir: Path) -> tuple[str, dict[str, Any]]:
    """The one stack that is not the image registry."""
    stacks = [path for path in sorted(outdir.glob("stacks/*/cdk.tf.json")) if "registry" not in path.parent.name]
    if len(stacks) != 1:
        raise ReviewError(f"expected one streams stack under {outdir}/stacks, found {[p.parent.name for p in stacks]}")
    return stacks[0].parent.name, json.loads(stacks[0].read_text())


def synthesize_tree(tree: Path, python: str, environ: Mapping[str, str]) -> Synthesized:
    with tempfile.TemporaryDirectory(prefix="hookstream-review-") as scratch:
        outdir, meta = Path(scratch) / "out", Path(scratch) / "meta.json"
        env = {**environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
               "HOOKSTREAM_IMAGE": PLACEHOLDER_IMAGE, "PYTHONPATH": str(tree)}
        result = subprocess.run(
            [python, "-c", _SYNTH_SCRIPT, str(outdir), str(meta), json.dumps(PLACEHOLDERS)],
            cwd=tree, env=env, capture_output=True, text=True, timeout=SYNTH_TIMEOUT_SECONDS, check=False)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-5:])
            raise ReviewError(f"synth of {tree} failed:\n{tail}")
        name, stack = streams_stack(outdir)
        allowed = json.loads(meta.read_text())["allow_data_loss"]
        return Synthesized(name, stack, tuple(str(stream) for stream in allowed))


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReviewError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def default_base(repo: Path) -> str:
    """The merge base with main (or origin/main, as a CI checkout has it)."""
    for branch in ("main", "origin/main"):
        try:
            return git(repo, "merge-base", "HEAD", branch)
        except ReviewError:
            continue
    raise ReviewError("no branch 'main' or 'origin/main' to compare with: pass --base REF")


@contextmanager
def checked_out(repo: Path, ref: str) -> Iterator[Path]:
    """`ref` checked out in a temporary worktree (removed afterwards), so the work tree stays untouched."""
    commit = git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}")
    parent = Path(tempfile.mkdtemp(prefix="hookstream-review-base-"))
    tree = parent / "tree"
    git(repo, "worktree", "add", "--detach", str(tree), commit)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
                       capture_output=True, check=False)
        shutil.rmtree(parent, ignore_errors=True)


def python_for(repo: Path) -> str:
    """The repo's Python for the engine HOOKSTREAM_ENGINE names (.venv for cdktf, .venv-terrain for Terrain)."""
    venv = repo / ENGINES.get(os.environ.get(ENGINE_ENV) or CDKTF.name, CDKTF).venv / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def environ_for_review(env_name: str | None) -> dict[str, str]:
    environ = dict(os.environ)
    # A review synthesizes and compares; it reads and writes no Terraform state, so CI's refusal to run
    # without a state bucket (infra/config.py) does not apply to it.
    environ.pop("CI", None)
    if env_name:
        environ["HOOKSTREAM_ENV"] = env_name
    return environ
