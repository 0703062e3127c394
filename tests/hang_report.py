"""On a test about to hit its pytest-timeout, print every asyncio task's stack.

pytest-timeout dumps the threads, which for an async test shows only an idle event loop;
the await that hangs is in a task. This prints those stacks shortly before the timeout fires,
so a hang in CI names its line.
"""

from __future__ import annotations

import asyncio
import gc
import io
import sys
import threading
from collections.abc import Iterator

import pytest

_LEAD_S = 5.0


def _running_loops() -> list[asyncio.AbstractEventLoop]:
    return [o for o in gc.get_objects() if isinstance(o, asyncio.BaseEventLoop) and o.is_running()]


def _report(name: str) -> None:
    out = io.StringIO()
    print(f"\n+++ asyncio tasks of {name}, about to time out +++", file=out)
    for loop in _running_loops():
        for task in list(asyncio.all_tasks(loop)):
            print(f"--- {task!r}", file=out)
            task.print_stack(limit=12, file=out)
    sys.stderr.write(out.getvalue())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    marker = item.get_closest_marker("timeout")
    timeout = float(
        marker.args[0]
        if marker and marker.args
        else item.config.getoption("timeout", None) or item.config.getini("timeout") or 0
    )
    timer: threading.Timer | None = None
    if timeout > _LEAD_S * 2:
        timer = threading.Timer(timeout - _LEAD_S, _report, args=(item.nodeid,))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
