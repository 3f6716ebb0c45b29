"""`python -m infra`: the cdktf app entry point (cdktf.json runs it for `cdktf synth|diff|deploy`)."""

import sys

from infra.app import build_app
from infra.config import ConfigError
from service.model.stream import StreamDefinitionError

if __name__ == "__main__":
    try:
        build_app().synth()
    except (ConfigError, StreamDefinitionError) as error:
        # A clear one-line reason, not a traceback through jsii.
        sys.exit(f"hookstream infra: cannot synth: {error}")
