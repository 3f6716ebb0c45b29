"""One engine seam: only infra/engine/ imports cdktf or CDK Terrain, and its two import lists match."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from infra.engine.setting import CDKTF, ENGINE_ENV, TERRAIN, EngineError, selected_engine

REPO = Path(__file__).resolve().parents[2]
SEAM = {"infra/engine/core.py", "infra/engine/providers.py"}
ENGINE_PACKAGES = ("cdktf", "cdktn")  # cdktf, cdktf_cdktf_provider_*, cdktn, cdktn_provider_*


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_module_outside_the_seam_imports_an_engine() -> None:
    offenders = []
    for folder in ("infra", "tools", "service", "tests"):
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = str(path.relative_to(REPO))
            engines = {name for name in _imported_packages(path) if name.startswith(ENGINE_PACKAGES)}
            if engines and relative not in SEAM:
                offenders.append(f"{relative}: {sorted(engines)}")
    assert offenders == []


def _branch_imports(body: list[ast.stmt]) -> list[tuple[str, tuple[tuple[str, str | None], ...]]]:
    return [(node.module or "", tuple((alias.name, alias.asname) for alias in node.names))
            for node in body if isinstance(node, ast.ImportFrom)]


@pytest.mark.parametrize("module", sorted(SEAM))
def test_the_terrain_branch_imports_the_same_names_as_the_cdktf_branch(module: str) -> None:
    tree = ast.parse((REPO / module).read_text())
    (choice,) = [node for node in tree.body if isinstance(node, ast.If)]
    cdktf, terrain = _branch_imports(choice.body), _branch_imports(choice.orelse)
    assert cdktf and all(name.startswith("cdktf") for name, _ in cdktf)
    renamed = [("cdktn" if name == "cdktf" else name.replace("cdktf_cdktf_provider_", "cdktn_provider_"), names)
               for name, names in cdktf]
    assert terrain == renamed


def test_an_unknown_engine_is_refused_with_the_choices() -> None:
    with pytest.raises(EngineError, match=r"^HOOKSTREAM_ENGINE='pulumi' is not an engine; use one of cdktf, "
                                          r"terrain$"):
        selected_engine({ENGINE_ENV: "pulumi"})


def test_without_the_setting_the_installed_engine_is_used_cdktf_first() -> None:
    # .venv has cdktf only, .venv-terrain CDK Terrain only (scripts/lib.sh): each picks its own.
    expected = CDKTF if CDKTF.installed() else TERRAIN
    assert selected_engine({}) == expected
    missing = TERRAIN if expected is CDKTF else CDKTF
    if not missing.installed():
        with pytest.raises(EngineError, match=rf"pip install -e '\.\[{missing.extra}\]'"):
            selected_engine({ENGINE_ENV: missing.name})
