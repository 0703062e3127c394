"""The package layout promises of DESIGN §2: one namespace, listed packages, import direction."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_DIR: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]
FOLDER_TO_PACKAGE = {folder: package for package, folder in PACKAGE_DIR.items()}

# Lowest first: a layer may import itself and the layers before it, never one after it.
LAYERS = ["proctor.core", "proctor.events", "proctor.triggers", "proctor.automations",
          "proctor.runtime", "proctor"]  # fmt: skip


def _packages_on_disk() -> set[str]:
    found = set()
    for folder, package in FOLDER_TO_PACKAGE.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    return found


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert _packages_on_disk() == listed


def _layer_of(module: str) -> int:
    for index in range(len(LAYERS) - 1, -1, -1):
        layer = LAYERS[index]
        if layer != "proctor" and (module == layer or module.startswith(layer + ".")):
            return index
    return LAYERS.index("proctor")


def _modules() -> list[tuple[str, Path]]:
    modules = []
    for folder, package in FOLDER_TO_PACKAGE.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            modules.append((".".join((package, *parts)), path))
    return modules


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: str(v))
def test_lower_layers_never_import_higher_ones(module: str, path: Path) -> None:
    own = _layer_of(module)
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            if name == "proctor" or name.startswith("proctor."):
                assert _layer_of(name) <= own, f"{module} imports {name}, a higher layer"
            assert name.split(".")[0] not in FOLDER_TO_PACKAGE, f"{module}: bare import {name}"
