"""Synthesize the app with a chosen engine, in that engine's own virtual environment.

cdktf lives in .venv and CDK Terrain in .venv-terrain (they cannot share one: scripts/lib.sh), so
comparing the two, or scanning the Terrain output from .venv, means running the other engine's Python:

    .venv-terrain/bin/python -m tools.operator.engine_synth --engine terrain --outdir DIR \
        --config tests.infra.helpers:CONFIG [--streams tests.infra.helpers:VARIED_STREAMS]

writes `DIR/stacks/<stack>/cdk.tf.json`, as `cdktf synth` would. `synth_with()` runs that as a child.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra.engine.setting import ENGINE_ENV, ENGINES, Engine

REPO = Path(__file__).resolve().parents[2]
SYNTH_TIMEOUT_SECONDS = 300


def engine_python(engine: Engine) -> Path:
    return REPO / engine.venv / "bin" / "python"


def _load(spec: str) -> Any:
    """'package.module:NAME' -> that object (the child imports what the caller names)."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def synth_with(engine: Engine, outdir: Path, config: str, streams: str | None = None) -> None:
    """Run the engine's Python to write the app under `outdir`, as `cdktf synth` would.

    `config` and `streams` name objects as 'module:NAME' (a DeployConfig; a tuple of Stream), so both
    engines build exactly the same definitions; streams default to infra/streams.py.
    """
    python = engine_python(engine)
    outdir.parent.mkdir(parents=True, exist_ok=True)  # the engine makes outdir itself, not its parents
    if not python.exists():
        raise FileNotFoundError(f"{python} is missing: scripts/test creates it (scripts/lib.sh)")
    command = [str(python), "-m", "tools.operator.engine_synth", "--engine", engine.name, "--outdir", str(outdir),
               "--config", config, *(["--streams", streams] if streams else [])]
    env = {**os.environ, ENGINE_ENV: engine.name, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=SYNTH_TIMEOUT_SECONDS)
    if result.returncode != 0:
        raise RuntimeError(f"{engine.name} synth failed (exit {result.returncode}):\n{result.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.operator.engine_synth",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=sorted(ENGINES), required=True)
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--config", required=True, help="module:NAME of a DeployConfig")
    parser.add_argument("--streams", help="module:NAME of a tuple of Stream (default: infra/streams.py)")
    args = parser.parse_args(argv)
    os.environ[ENGINE_ENV] = args.engine  # before infra.app imports the engine
    from infra.app import build_app
    from infra.engine.core import ENGINE

    if ENGINE.name != args.engine:
        raise SystemExit(f"asked for {args.engine}, got {ENGINE.name}")
    streams = _load(args.streams) if args.streams else None
    build_app(streams, _load(args.config), outdir=args.outdir, warn=lambda message: None).synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
