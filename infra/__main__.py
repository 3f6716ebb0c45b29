"""`python -m infra`: the app entry point (cdktf.json runs it for `cdktf synth|diff|deploy`).

The engine (cdktf or CDK Terrain, infra/engine/setting.py) is chosen when infra.app is imported.
"""

import sys

from infra.config import ConfigError
from infra.engine.setting import EngineError
from service.model.stream import StreamDefinitionError

if __name__ == "__main__":
    try:
        from infra.app import build_app

        build_app().synth()
    except (ConfigError, EngineError, StreamDefinitionError) as error:
        # A clear one-line reason, not a traceback through jsii.
        sys.exit(f"hookstream infra: cannot synth: {error}")
