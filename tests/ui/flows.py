"""Flows the UI and CLI tests run for real: one that fails in a task, one that completes, one
that runs until it is cancelled, one that fails its first attempts (from a deployment, by a
worker)."""

from __future__ import annotations

import time
from pathlib import Path

from proctor import flow, get_run_logger, task


@task
def extract(n: int) -> list[int]:
    get_run_logger().info("extracting %d rows", n)
    return list(range(n))


@task
def transform(rows: list[int]) -> list[int]:
    return [2 * row for row in rows]


@task
def square(x: int) -> int:
    return x * x


@task
def validate(rows: list[int]) -> int:
    get_run_logger().warning("row 3 looks odd")
    raise ValueError(f"validation failed: {len(rows)} rows, expected 100")


@task
def load(rows: list[int]) -> int:
    return len(rows)


@flow
def etl(n: int = 8, target: str = "warehouse") -> int:
    """Fails in `validate`, after a small graph: extract -> transform -> load and validate."""
    get_run_logger().info("loading into %s", target)
    rows = extract.submit(n)
    doubled = transform.submit(rows)
    squares = square.map(range(n))
    total = load.submit(doubled, wait_for=squares)
    validate.submit(doubled).result()
    return total.result()


@flow
def nightly_report(day: str = "2026-11-02") -> int:
    get_run_logger().info("report for %s", day)
    return load.submit(transform.submit(extract.submit(3))).result()


@flow
def slow(ticks: int = 300) -> int:
    """Runs for a minute unless cancelled: what the cancel tests cancel."""
    log = get_run_logger()
    for tick in range(ticks):
        log.info("tick %d", tick)
        time.sleep(0.2)  # allow-sleep: the work a cancel interrupts
    return ticks


@flow
def flaky(ledger: str, failures: int = 1) -> int:
    """Fails its first ``failures`` attempts (counted in the file ``ledger``), then completes:
    what the retry tests retry."""
    path = Path(ledger)
    attempt = len(path.read_text().splitlines()) + 1 if path.exists() else 1
    with path.open("a") as file:
        file.write(f"attempt {attempt}\n")
    get_run_logger().info("attempt %d", attempt)
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} of {failures + 1} fails on purpose")
    return attempt
