"""What the trigger engine keeps between events, per trigger node and bucket, and its JSON form.

Records are immutable: an update makes a new one, and a store swaps it in with
compare-and-set. An event record keeps its event ids packed: 16 bytes each (``UUID.bytes``),
one after another, so that a look-up is one substring search (``holds``), an update one
concatenation, and the wire form one ``hex()``. Ids of child firings (compound and sequence
records) are 128-bit integers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple
from uuid import UUID

from proctor.triggers.firing import Firing

__all__ = (
    "ID_SIZE",
    "MAX_COUNTED",
    "SEEN_CAPACITY",
    "CombineRecord",
    "EventRecord",
    "Record",
    "ScheduleRecord",
    "StateRef",
    "Versioned",
    "decode_record",
    "encode_record",
    "holds",
    "keep_latest",
    "remember",
    "unpack_ids",
)

MAX_COUNTED: Final = 1000
"""Most event ids a window keeps (the count goes on; a firing lists the latest ones)."""
SEEN_CAPACITY: Final = 64
"""Recently handled event (or child firing) ids each bucket remembers, to drop re-deliveries."""
ID_SIZE: Final = 16
"""Bytes per packed event id."""


class StateRef(NamedTuple):
    """Which record: the trigger's key, the node (a hash of its definition), the bucket."""

    trigger: str
    node: str
    bucket: tuple[str, ...]


def remember(seen: tuple[int, ...], item: int) -> tuple[int, ...]:
    """``seen`` with ``item`` added, keeping the latest ``SEEN_CAPACITY``."""
    if len(seen) < SEEN_CAPACITY:
        return (*seen, item)
    return (*seen[1 - SEEN_CAPACITY :], item)


def holds(packed: bytes, item: bytes) -> bool:
    """Whether the packed ids hold ``item`` (16 bytes): a match must start at an id."""
    at = packed.find(item)
    while at >= 0:
        if not at % ID_SIZE:
            return True
        at = packed.find(item, at + 1)
    return False


def keep_latest(packed: bytes, item: bytes, limit: int) -> bytes:
    """``packed`` with ``item`` added, keeping the latest ``limit`` ids."""
    if len(packed) < limit * ID_SIZE:
        return packed + item
    return packed[(1 - limit) * ID_SIZE :] + item


def unpack_ids(packed: bytes) -> list[bytes]:
    """The packed ids, one by one."""
    return [packed[at : at + ID_SIZE] for at in range(0, len(packed), ID_SIZE)]


class EventRecord(NamedTuple):
    """One bucket of an event trigger: its window and the events counted in it. (A named
    tuple rather than a frozen dataclass: one is made per count, and it builds twice as
    fast. Its ``count`` field hides ``tuple.count``, which nothing here calls.)"""

    opened: datetime | None
    """Start of the open window; ``None`` when no window is open."""
    count: int  # type: ignore[assignment]
    counted: bytes
    """Ids of the events counted in the window (the latest ``MAX_COUNTED``), packed."""
    seen: bytes
    """Ids of the latest ``SEEN_CAPACITY`` events handled, packed."""
    opener: bytes | None
    """The ``after`` event that opened the window, if any."""
    touched: datetime


@dataclass(frozen=True, slots=True)
class CombineRecord:
    """State of a compound (latest firing per child) or sequence (best partial match per
    length) trigger."""

    fired: tuple[tuple[Firing, ...], ...]
    seen: tuple[int, ...]
    touched: datetime


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """State of a cron or interval trigger: every slot up to ``handled_until`` is handled."""

    handled_until: datetime
    touched: datetime


Record = EventRecord | CombineRecord | ScheduleRecord


class Versioned(NamedTuple):
    """A record and the store revision it was read at (for compare-and-set)."""

    record: Record
    revision: int


def _id(value: int | None) -> str | None:
    """``str(UUID(int=value))``, without making a UUID."""
    if value is None:
        return None
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _packed_id(value: bytes | None) -> str | None:
    """``str(UUID(bytes=value))``."""
    return None if value is None else _id(int.from_bytes(value, "big"))


def _id_bytes(value: str | None) -> bytes | None:
    """``UUID(value).bytes`` for the canonical form ``_id`` writes."""
    return None if value is None else bytes.fromhex(value.replace("-", ""))


def _parse_ids(packed: str | list[str]) -> bytes:
    """What ``hex()`` of packed ids wrote (or a list of UUID strings, the earlier form)."""
    if isinstance(packed, list):
        return b"".join(bytes.fromhex(item.replace("-", "")) for item in packed)
    return bytes.fromhex(packed)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _json_text(value: str | None) -> str:
    """A string that needs no escaping (hex, ISO times, UUIDs) as a JSON value, or null."""
    return "null" if value is None else f'"{value}"'


def encode_record(bucket: tuple[str, ...], record: Record) -> bytes:
    """``record`` (and its bucket, so a scan can recover it) as JSON bytes."""
    body: dict[str, Any]
    if isinstance(record, EventRecord):  # written for every changed bucket at each checkpoint:
        # the JSON is put together here (``json.dumps`` would scan kilobytes of hex for
        # characters to escape); only the bucket's values can need escaping.
        return (
            f'{{"kind":"event","opened":{_json_text(_time(record.opened))},'
            f'"count":{int(record.count)},"counted":"{record.counted.hex()}",'
            f'"seen":"{record.seen.hex()}","opener":{_json_text(_packed_id(record.opener))},'
            f'"touched":"{record.touched.isoformat()}",'
            f'"bucket":{json.dumps(list(bucket), separators=(",", ":"))}}}'
        ).encode()
    if isinstance(record, CombineRecord):
        body = {
            "kind": "combine",
            "fired": [[f.model_dump(mode="json") for f in group] for group in record.fired],
            "seen": [_id(item) for item in record.seen],
        }
    else:
        body = {"kind": "schedule", "handled_until": _time(record.handled_until)}
    body["touched"] = _time(record.touched)
    body["bucket"] = list(bucket)
    return json.dumps(body, separators=(",", ":")).encode()


def decode_record(data: bytes) -> tuple[tuple[str, ...], Record]:
    """The bucket and record ``encode_record`` wrote."""
    body = json.loads(data)
    bucket = tuple(body["bucket"])
    touched = datetime.fromisoformat(body["touched"])
    kind = body["kind"]
    record: Record
    if kind == "event":
        record = EventRecord(
            opened=_parse_time(body["opened"]),
            count=body["count"],
            counted=_parse_ids(body["counted"]),
            seen=_parse_ids(body["seen"]),
            opener=_id_bytes(body["opener"]),
            touched=touched,
        )
    elif kind == "combine":
        record = CombineRecord(
            fired=tuple(tuple(Firing.model_validate(f) for f in group) for group in body["fired"]),
            seen=tuple(UUID(item).int for item in body["seen"]),
            touched=touched,
        )
    elif kind == "schedule":
        record = ScheduleRecord(datetime.fromisoformat(body["handled_until"]), touched)
    else:
        raise ValueError(f"unknown trigger state record kind {kind!r}")
    return bucket, record
