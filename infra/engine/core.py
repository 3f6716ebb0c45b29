"""The chosen engine's core classes (see infra/engine/setting.py): the same names in cdktf and cdktn.

mypy checks against cdktf (TYPE_CHECKING takes the first branch); the Terrain synth tests run the other.
S3Backend serves the engine-switch test only (tests/infra/switch_app.py: AWS runs here, against moto).
"""

from typing import TYPE_CHECKING

from infra.engine.setting import selected_engine

ENGINE = selected_engine()

if TYPE_CHECKING or ENGINE.core == "cdktf":
    from cdktf import (
        App,
        GcsBackend,
        ITerraformDependable,
        S3Backend,
        TerraformOutput,
        TerraformResource,
        TerraformResourceLifecycle,
        TerraformStack,
        Testing,
    )
else:
    from cdktn import (
        App,
        GcsBackend,
        ITerraformDependable,
        S3Backend,
        TerraformOutput,
        TerraformResource,
        TerraformResourceLifecycle,
        TerraformStack,
        Testing,
    )

__all__ = ["ENGINE", "App", "GcsBackend", "ITerraformDependable", "S3Backend", "TerraformOutput",
           "TerraformResource", "TerraformResourceLifecycle", "TerraformStack", "Testing"]
