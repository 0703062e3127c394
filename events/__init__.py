"""Events: the model every part shares, the names and label matchers, and the bus.

The buses and the embedded server are imported on first use, so importing this package does
not load nats-py.
"""

from typing import TYPE_CHECKING, Any

from proctor.events.bus import (
    EventBus,
    EventStreamConfig,
    EventSubscription,
    PublishReceipt,
    StreamStats,
)
from proctor.events.emit import BusThread, aemit_event, emit_event, use_publisher
from proctor.events.ids import uuid7
from proctor.events.labels import (
    ID_LABEL,
    NAME_LABEL,
    ROLE_LABEL,
    RelatedResource,
    Resource,
    ResourceSpecification,
)
from proctor.events.model import MAX_EVENT_BYTES, MAX_PAYLOAD_BYTES, Event
from proctor.events.names import EventName, NameFilter, validate_event_name
from proctor.events.naming import Naming

if TYPE_CHECKING:
    from proctor.events.bus.jetstream import JetStreamEventBus
    from proctor.events.bus.memory import InMemoryEventBus
    from proctor.events.nats_server import EmbeddedNats, NatsLimits

__all__ = (
    "ID_LABEL",
    "MAX_EVENT_BYTES",
    "MAX_PAYLOAD_BYTES",
    "NAME_LABEL",
    "ROLE_LABEL",
    "BusThread",
    "EmbeddedNats",
    "Event",
    "EventBus",
    "EventName",
    "EventStreamConfig",
    "EventSubscription",
    "InMemoryEventBus",
    "JetStreamEventBus",
    "NameFilter",
    "Naming",
    "NatsLimits",
    "PublishReceipt",
    "RelatedResource",
    "Resource",
    "ResourceSpecification",
    "StreamStats",
    "aemit_event",
    "emit_event",
    "use_publisher",
    "uuid7",
    "validate_event_name",
)


def __getattr__(name: str) -> Any:
    if name == "JetStreamEventBus":
        from proctor.events.bus.jetstream import JetStreamEventBus

        return JetStreamEventBus
    if name == "InMemoryEventBus":
        from proctor.events.bus.memory import InMemoryEventBus

        return InMemoryEventBus
    if name in ("EmbeddedNats", "NatsLimits"):
        from proctor.events import nats_server

        return getattr(nats_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
