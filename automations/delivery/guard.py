"""The SSRF guard: outgoing requests reach public addresses only, unless allowed.

A destination host is resolved, and *every* address it resolves to must be public (not
private, loopback, link-local, multicast, reserved, unspecified or otherwise non-global,
including IPv4 addresses embedded in IPv6), or be allowed by the policy: a host name on the
allowlist, or an address inside an allowlisted CIDR. The request then connects to the
checked address itself (see ``client.py``), so a second DNS answer cannot swap it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proctor.core.errors import DeliveryError, DestinationRefusedError

__all__ = (
    "DestinationPolicy",
    "IPAddress",
    "Resolver",
    "address_kind",
    "check_destination",
    "system_resolver",
)

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver: TypeAlias = Callable[[str, int], Awaitable[Sequence[str]]]
"""Resolve ``(host, port)`` to IP address strings."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (``getaddrinfo``), without blocking the loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_kind(address: IPAddress) -> str | None:
    """Why ``address`` is refused by default (``"loopback"``...), or ``None`` if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return address_kind(embedded)
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "non-global"


class DestinationPolicy(BaseModel):
    """Which non-public destinations outgoing requests may reach (none by default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: tuple[str, ...] = Field(
        default=(),
        description="Host names (exact, case-insensitive) or IP networks in CIDR form "
        "('10.0.0.0/8', '127.0.0.1/32') that outgoing requests may reach even if not public.",
    )

    @field_validator("allow", mode="after")
    @classmethod
    def _entries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not entry or any(c.isspace() for c in entry) or ("/" in entry and not _cidr(entry)):
                raise ValueError(f"{entry!r} is neither a host name nor a CIDR network")
        return tuple(entry.lower() for entry in value)

    def _networks(self) -> list[IPNetwork]:
        return [network for entry in self.allow if (network := _cidr(entry)) is not None]

    def allows(self, host: str, address: IPAddress) -> bool:
        """Whether ``address`` (which ``host`` resolved to) may be reached."""
        if address_kind(address) is None or host.lower().rstrip(".") in self.allow:
            return True
        return any(address in network for network in self._networks())


def _cidr(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


async def check_destination(
    host: str, port: int, policy: DestinationPolicy, resolver: Resolver = system_resolver
) -> IPAddress:
    """Resolve ``host`` and return the address to connect to, if every address is allowed.

    Raises ``DestinationRefusedError`` (naming the host and the kind of address) or
    ``DeliveryError`` (reason ``dns_error``) if the host does not resolve.
    """
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            answers = await resolver(host, port)
        except (OSError, UnicodeError):
            answers = []
        if not answers:
            raise DeliveryError(
                f"could not resolve the destination host {host!r}",
                reason="dns_error",
                retryable=True,
            ) from None
        addresses = [ipaddress.ip_address(answer.split("%")[0]) for answer in answers]
    for address in addresses:
        if not policy.allows(host, address):
            raise DestinationRefusedError(
                f"destination {host!r} resolves to {address} ({address_kind(address)}), which "
                "outgoing requests may not reach; if this is intended, add the host or a CIDR "
                "network to the allowlist (DestinationPolicy.allow)",
                host=host,
            )
    return addresses[0]
