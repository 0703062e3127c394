"""A flow a worker's run process loads by entrypoint (``flows_for_tracing.py:pipeline``)."""

from __future__ import annotations

from proctor import flow, task


@task
def extract(n: int) -> list[int]:
    return list(range(n))


@task
def load(rows: list[int]) -> int:
    return sum(rows)


@flow
def pipeline(n: int) -> int:
    return load(extract(n))
