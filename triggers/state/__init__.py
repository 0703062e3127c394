"""Trigger state: records per trigger node and bucket, behind a compare-and-set store."""

from proctor.triggers.state.base import TriggerStateStore
from proctor.triggers.state.buffered import BufferedTriggerStateStore
from proctor.triggers.state.jetstream import JetStreamTriggerStateStore, state_key
from proctor.triggers.state.memory import InMemoryTriggerStateStore
from proctor.triggers.state.records import (
    ID_SIZE,
    MAX_COUNTED,
    SEEN_CAPACITY,
    CombineRecord,
    EventRecord,
    Record,
    ScheduleRecord,
    StateRef,
    Versioned,
    decode_record,
    encode_record,
    holds,
    keep_latest,
    unpack_ids,
)

__all__ = (
    "ID_SIZE",
    "MAX_COUNTED",
    "SEEN_CAPACITY",
    "BufferedTriggerStateStore",
    "CombineRecord",
    "EventRecord",
    "InMemoryTriggerStateStore",
    "JetStreamTriggerStateStore",
    "Record",
    "ScheduleRecord",
    "StateRef",
    "TriggerStateStore",
    "Versioned",
    "decode_record",
    "encode_record",
    "holds",
    "keep_latest",
    "state_key",
    "unpack_ids",
)
