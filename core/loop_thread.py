"""An asyncio event loop on a private thread, so sync code (and other loops) can use async
clients that belong to one loop: a NATS connection, an HTTP client."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ("LoopThread",)

T = TypeVar("T")


class LoopThread:
    """A running event loop on a daemon thread. ``stop()`` ends it cleanly."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def spawn(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coroutine`` on the loop; the future gives its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coroutine`` on the loop and wait for its result (from a sync caller)."""
        return self.spawn(coroutine).result(timeout_s)

    async def acall(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and await its result (from another loop)."""
        return await asyncio.wrap_future(self.spawn(coroutine))

    def stop(self) -> None:
        """Cancel what is left on the loop (as ``asyncio.run`` does), then stop and close it."""
        if self.loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self.call(_cancel_remaining(), timeout_s=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


async def _cancel_remaining() -> None:
    current = asyncio.current_task()
    remaining = [task for task in asyncio.all_tasks() if task is not current]
    for task in remaining:
        task.cancel()
    await asyncio.gather(*remaining, return_exceptions=True)
