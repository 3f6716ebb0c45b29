"""Which CDK engine synthesizes the stacks: cdktf (the default) or CDK Terrain (cdktn), and how to choose.

Cheap to import (no jsii): the settings checks, scripts/synth-bench and the tests read it without loading
the ~1 GB provider bindings. infra/engine/core.py and providers.py import the chosen engine.

cdktf is archived upstream (0.21.0, hashicorp/google 6.50.0 bindings); CDK Terrain is its maintained fork
(https://github.com/open-constructs/cdk-terrain) with the same class names, `cdktf.json` and `cdktf.out`
layout. Both can synthesize the same stream definitions; docs/deploy.md says how to move a deployment.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass

ENGINE_ENV = "HOOKSTREAM_ENGINE"


class EngineError(Exception):
    """The engine asked for is unknown or not installed: a one-line reason, no jsii traceback."""


@dataclass(frozen=True)
class Engine:
    name: str  # the value of HOOKSTREAM_ENGINE
    core: str  # the Python package of App, TerraformStack, ...
    provider_prefix: str  # + "google" / "random" / "time": the prebuilt bindings' packages
    extra: str  # pip install -e .[extra]
    venv: str  # the virtual environment scripts/test and scripts/synth-bench use for it

    @property
    def google_package(self) -> str:
        return f"{self.provider_prefix}google"

    def installed(self) -> bool:
        return all(importlib.util.find_spec(package) is not None
                   for package in (self.core, self.google_package, f"{self.provider_prefix}random",
                                   f"{self.provider_prefix}time"))


CDKTF = Engine(name="cdktf", core="cdktf", provider_prefix="cdktf_cdktf_provider_", extra="infra", venv=".venv")
TERRAIN = Engine(name="terrain", core="cdktn", provider_prefix="cdktn_provider_", extra="infra-terrain",
                 venv=".venv-terrain")
ENGINES: dict[str, Engine] = {engine.name: engine for engine in (CDKTF, TERRAIN)}


def selected_engine(environ: Mapping[str, str] | None = None) -> Engine:
    """HOOKSTREAM_ENGINE if set; else cdktf when installed (the default), else CDK Terrain when installed.

    The fallback means `pip install -e .[infra-terrain]` alone is enough to synthesize with Terrain.
    """
    environ = os.environ if environ is None else environ
    asked = environ.get(ENGINE_ENV, "").strip()
    if asked:
        engine = ENGINES.get(asked)
        if engine is None:
            raise EngineError(f"{ENGINE_ENV}={asked!r} is not an engine; use one of {', '.join(ENGINES)}")
        if not engine.installed():
            raise EngineError(f"{ENGINE_ENV}={asked!r} but {engine.core} and its provider bindings are not "
                              f"installed in this Python: pip install -e '.[{engine.extra}]'")
        return engine
    for engine in ENGINES.values():  # cdktf first: the default the users asked for
        if engine.installed():
            return engine
    raise EngineError(f"no CDK engine is installed: pip install -e '.[{CDKTF.extra}]' (cdktf) "
                      f"or -e '.[{TERRAIN.extra}]' (CDK Terrain)")
