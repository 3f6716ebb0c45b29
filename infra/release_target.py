"""`python -m infra.release_target`: where scripts/release deploys, as shell assignments.

Prints project, region, the two stack names and the synth output directory of the environment that
HOOKSTREAM_ENV names (or of the single shell-configured deployment), so the release script and
cdktf agree on one source: infra/environments.py and infra/config.py. No cdktf import: instant.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence

from infra.config import PROJECT_ENV, PROJECT_ID, REGION, REGION_ENV, ConfigError, Environment, select_environment
from infra.naming import REGISTRY_STACK, STREAMS_STACK


def release_target(environ: Mapping[str, str], environments: Sequence[Environment]) -> dict[str, str]:
    if environments:
        environment = select_environment(environ, None, environments)
        name: str | None = environment.name
        project, region = environment.project, environment.region
    else:
        name = None
        project, region = environ.get(PROJECT_ENV, ""), environ.get(REGION_ENV, "")
        if not PROJECT_ID.match(project) or not REGION.match(region):
            raise ConfigError(f"set {PROJECT_ENV} and {REGION_ENV} (e.g. acme-analytics and europe-west3), "
                              "or list environments in infra/environments.py and pass --env")
    suffix = f"-{name}" if name else ""
    return {"environment": name or "", "project": project, "region": region,
            "registry_stack": REGISTRY_STACK + suffix, "streams_stack": STREAMS_STACK + suffix,
            "outdir": f"cdktf.out/{name}" if name else "cdktf.out"}


def main() -> int:
    from infra.environments import ENVIRONMENTS

    try:
        target = release_target(os.environ, ENVIRONMENTS)
    except ConfigError as error:
        print(f"scripts/release: {error}", file=sys.stderr)
        return 2
    for key, value in target.items():
        print(f"{key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
