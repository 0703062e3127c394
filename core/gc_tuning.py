"""The garbage collector's settings for a long-running Proctor service process.

CPython collects its youngest generation every 700 new container objects and, every so
often, walks every object the process holds. A service that loads a large, long-lived heap
(a thousand automations compiled, a store, a server's routes) and then makes many short-lived
objects per event pays for both: on the automation engine's counting benchmark the collector
took 50-65 µs of every event's ~185 µs.

``tune_for_service()`` moves what the process holds so far out of the collector's sight
(``gc.freeze()``: it is never walked again, and never freed, which suits what a service keeps
for its lifetime) and lets the youngest generation grow to ``young`` objects before it is
collected. Cycles are still collected; a process makes a few megabytes more garbage between
collections. Call it once the service's long-lived objects are loaded; calling it again is a
no-op (the threshold it set says it was done).

A process that starts as a service (``proctor server start``) does better still:
``hold_until_loaded()`` before it imports and starts everything, ``release_loaded()`` once
it is ready. Start-up makes about a million long-lived objects and a few thousand garbage
ones; the collector would walk the growing heap again and again (~12% of the start-up's CPU),
and ``tune_for_service``'s collection would walk it once more before ready.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ("SERVICE_YOUNG_THRESHOLD", "hold_until_loaded", "release_loaded", "tune_for_service")

SERVICE_YOUNG_THRESHOLD: Final = 50_000
"""New container objects between collections of the youngest generation (CPython: 700)."""


def tune_for_service(young: int = SERVICE_YOUNG_THRESHOLD) -> bool:
    """Freeze what the process holds now and raise the youngest generation's threshold to
    ``young``; ``False`` (and nothing done) if it is already at least that."""
    first, middle, oldest = gc.get_threshold()
    if first >= young:
        return False
    gc.collect()  # what is garbage now is not frozen with the rest
    gc.freeze()
    gc.set_threshold(young, middle, oldest)
    return True


def hold_until_loaded(young: int = SERVICE_YOUNG_THRESHOLD) -> None:
    """No collections until ``release_loaded()``; the service's threshold set already (so
    ``tune_for_service`` does nothing meanwhile)."""
    gc.disable()
    first, middle, oldest = gc.get_threshold()
    gc.set_threshold(max(young, first), middle, oldest)


def release_loaded() -> None:
    """Freeze what is loaded (without the collection: start-up's garbage is a few thousand
    objects, kept) and collect again from here on."""
    gc.freeze()
    gc.enable()
