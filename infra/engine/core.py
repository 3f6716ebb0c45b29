"""The chosen engine's core classes (see infra/engine/setting.py): the same names in cdktf and cdktn.

mypy checks against cdktf (TYPE_CHECKING takes the first branch); the Terrain synth tests run the other.
"""

from typing import TYPE_CHECKING

from infra.engine.setting import selected_engine

ENGINE = selected_engine()

if TYPE_CHECKING or ENGINE.core == "cdktf":
    from cdktf import (
        App,
        GcsBackend,
        ITerraformDependable,
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
        TerraformOutput,
        TerraformResource,
        TerraformResourceLifecycle,
        TerraformStack,
        Testing,
    )

__all__ = ["ENGINE", "App", "GcsBackend", "ITerraformDependable", "TerraformOutput",
           "TerraformResource", "TerraformResourceLifecycle", "TerraformStack", "Testing"]
