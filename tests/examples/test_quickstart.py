"""The README's main command, as a new user runs it: the quickstart's three stories happen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.nats, pytest.mark.slow]


def test_quickstart_shows_the_three_stories(isolated_environment: Path) -> None:
    env = {**os.environ, "PROCTOR_HOME": str(isolated_environment)}
    env.pop("SLACK_WEBHOOK_URL", None)
    demo = subprocess.run(
        [sys.executable, "examples/quickstart.py", "--exit", "--port", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    out = demo.stdout
    assert demo.returncode == 0, out + demo.stderr
    assert "signed GitHub push sent to /hooks/github-push: HTTP 202" in out
    assert "build-site ran with sha=6113728f27ae" in out
    assert "[slack]" in out
    assert "nightly-report" in out
    assert "warehouse connection reset" in out
    assert "the retry completed" in out
    assert "Stopped." in out
