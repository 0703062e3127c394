"""The automation stories' examples, run as a user runs them (a local server in a temporary
home, a worker, the automation engine): each shows its story happening."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.nats, pytest.mark.slow]


def _run(isolated_environment: Path, *args: str) -> str:
    env = {**os.environ, "PROCTOR_HOME": str(isolated_environment)}
    env.pop("SLACK_WEBHOOK_URL", None)
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_failed_flow_sends_one_slack_message(isolated_environment: Path) -> None:
    out = _run(isolated_environment, "examples/alert_on_failure.py")
    assert "Flow run failed: etl" in out
    assert "Failed" in out
    assert "no orders for 2026-06-01: the source is empty" in out
    assert re.search(r"/runs/[0-9a-f-]{36}\|[a-z]+-[a-z]+>", out)  # the run, linked
    assert "messages received: 1" in out


def test_a_crashed_then_failed_run_is_retried_until_it_completes(
    isolated_environment: Path,
) -> None:
    out = _run(isolated_environment, "examples/retry_failed_runs.py")
    states = re.findall(r"^\S+ +(Crashed|Failed|Completed) ", out, re.MULTILINE)
    assert states == ["Crashed", "Failed", "Completed"]
    assert out.count("(retry of ") >= 2


def test_a_schedule_makes_one_run_per_slot_with_three_engines(
    isolated_environment: Path,
) -> None:
    out = _run(isolated_environment, "examples/cron_schedule.py", "--interval", "2", "--slots", "2")
    slots = re.findall(r" slot (\S+) ", out)
    assert len(slots) == len(set(slots)) == 2
    assert "2 run(s) for 2 slot(s)" in out
