"""Event buses: JetStream for real, in memory for tests. One interface, one contract suite.

The two buses are imported on first use, so ``import proctor`` does not load nats-py.
"""

from typing import TYPE_CHECKING, Any

from proctor.events.bus.base import (
    EventBus,
    EventStreamConfig,
    EventSubscription,
    PublishReceipt,
    StartAt,
    StreamStats,
)

if TYPE_CHECKING:
    from proctor.events.bus.jetstream import JetStreamEventBus
    from proctor.events.bus.memory import InMemoryEventBus

__all__ = (
    "EventBus",
    "EventStreamConfig",
    "EventSubscription",
    "InMemoryEventBus",
    "JetStreamEventBus",
    "PublishReceipt",
    "StartAt",
    "StreamStats",
)


def __getattr__(name: str) -> Any:
    if name == "JetStreamEventBus":
        from proctor.events.bus.jetstream import JetStreamEventBus

        return JetStreamEventBus
    if name == "InMemoryEventBus":
        from proctor.events.bus.memory import InMemoryEventBus

        return InMemoryEventBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
