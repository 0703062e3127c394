"""``import proctor`` stays light: the bus client and settings machinery load on first use."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("nats", "faststream", "fastapi", "sqlalchemy", "pydantic_settings", "typer")


def test_import_proctor_loads_no_heavy_module() -> None:
    code = f"import sys, proctor; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
