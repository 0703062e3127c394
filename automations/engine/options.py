"""How an automation engine batches, retries and limits itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from proctor.core.errors import ConfigurationError
from proctor.events.bus.consumer import ConsumerOptions

__all__ = ("EngineOptions",)


def _consumer(*, prefetch: bool = False) -> ConsumerOptions:
    """A short ``ack_wait``: what a dead replica held comes back within 3 s; a living one
    keeps what it holds alive (``Holding``) however long its checkpoint or actions take."""
    return ConsumerOptions(
        ack_wait=timedelta(seconds=3), max_deliver=20, start="new", prefetch=prefetch
    )


@dataclass(frozen=True)
class EngineOptions:
    """Tuning of ``AutomationEngine``; the defaults suit one server process."""

    purpose: str = "automation-engine"
    """Durable consumer names: ``<purpose>`` (events) and ``<purpose>-actions`` (firings).
    Replicas of one engine share them, so each event and each firing goes to one replica."""
    batch_size: int = 500
    fetch_timeout_s: float = 1.0
    checkpoint_interval_s: float = 0.5
    """How often changed trigger state is saved and the events it covers acknowledged."""
    checkpoint_events: int = 10_000
    """Save sooner when this many evaluated events wait for a checkpoint."""
    events: ConsumerOptions = field(default_factory=lambda: _consumer(prefetch=True))
    """Events prefetch: a batch is evaluated in milliseconds, well within ``ack_wait``."""
    firings: ConsumerOptions = field(default_factory=_consumer)
    """Firings do not: one waits here until a slot frees, and actions can take long."""
    max_concurrent_firings: int = 64
    """Firings whose actions run at once; more wait (never the engine)."""
    action_attempts: int = 4
    """Attempts of one action (when its failure is retryable) before it is dead-lettered."""
    action_backoff_s: float = 1.0
    """Wait before the second attempt; doubles each time, up to ``action_max_backoff_s``."""
    action_max_backoff_s: float = 60.0
    loop_limit: int = 8
    """Causation hops after which a firing is refused and its automation stopped."""
    retention: timedelta = timedelta(hours=1)
    """How long idle trigger buckets are kept after their window."""
    state_retry_s: float = 0.2
    """First pause when the durable state or the bus cannot be reached; doubles up to 5 s."""
    tune_gc: bool = True
    """At start, once the automations are loaded, tune the process's garbage collector for a
    long-running service (``proctor.core.gc_tuning.tune_for_service``: a process-wide setting,
    made once). Off for an engine embedded in a process that sets its own."""

    def __post_init__(self) -> None:
        for name in (
            "batch_size",
            "checkpoint_events",
            "max_concurrent_firings",
            "action_attempts",
            "loop_limit",
        ):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"engine {name} must be at least 1", setting=name)
