"""The engine seam: the only package that imports a CDK engine (cdktf or CDK Terrain) or its bindings.

- `setting`: which engine (HOOKSTREAM_ENGINE, else whichever is installed, cdktf first). No jsii.
- `core`: App, TerraformStack, GcsBackend, TerraformOutput, ... of that engine (~1 s).
- `providers`: the prebuilt hashicorp/google, random and time bindings (~15 s, ~1 GB: import once).

Nothing is imported here, so `infra.engine.setting` stays cheap.
tests/infra/test_engine_seam.py checks that no other module imports cdktf/cdktn packages.
"""
