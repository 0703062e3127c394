"""The built wheel installs one namespace, `proctor`, and no bare top-level packages."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("proctor-*.whl")
    return built


@pytest.mark.slow
def test_wheel_holds_only_the_proctor_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {
        "proctor",
        f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info",
    }
    for package in ("core", "events", "triggers", "automations", "runtime", "cli"):
        assert f"proctor/{package}/__init__.py" in names
    assert "proctor/py.typed" in names


@pytest.mark.slow
def test_clean_install_has_no_bare_events_module(wheel: Path, tmp_path: Path) -> None:
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    for bare in ("events", "runtime", "sdk", "triggers", "automations", "core"):
        probe = subprocess.run(
            [str(python), "-c", f"import {bare}"],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,  # not the checkout, whose folders bear these names
        )
        assert probe.returncode != 0, f"'import {bare}' works after installing the wheel"
        assert "ModuleNotFoundError" in probe.stderr
    found = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('proctor').origin)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert "site-packages/proctor/__init__.py" in found.stdout
