"""Getting messages out safely: the SSRF guard, guarded HTTP, pacing, delivery outcomes."""

from proctor.automations.delivery.client import DEFAULT_MAX_RESPONSE_BYTES, GuardedHttp, HttpReply
from proctor.automations.delivery.guard import (
    DestinationPolicy,
    Resolver,
    address_kind,
    check_destination,
    system_resolver,
)
from proctor.automations.delivery.outcome import DeliveryOutcome
from proctor.automations.delivery.pacing import Lane, Pacer

__all__ = (
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DeliveryOutcome",
    "DestinationPolicy",
    "GuardedHttp",
    "HttpReply",
    "Lane",
    "Pacer",
    "Resolver",
    "address_kind",
    "check_destination",
    "system_resolver",
)
