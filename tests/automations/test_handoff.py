"""``Handoff``: firings an engine published, kept by their bytes for its own consumer."""

from __future__ import annotations

import uuid

from proctor.automations.engine.handoff import Handoff, HeldFiring
from proctor.triggers.firing import Firing
from tests.triggers.support import T0


def held(n: int) -> HeldFiring:
    firing = Firing(id=uuid.UUID(int=n), trigger="a", kind="reactive", occurred=T0, evaluated=T0)
    return HeldFiring(firing.id, 1, "a", firing, None)


def test_a_kept_firing_is_taken_once_by_its_bytes() -> None:
    handoff = Handoff()
    handoff.keep(b"one", held(1))
    assert handoff.take(b"other") is None
    delivered = b"".join([b"o", b"ne"])  # equal bytes, another object
    taken = handoff.take(delivered)
    assert taken is not None
    assert taken.firing.id == uuid.UUID(int=1)
    assert handoff.take(b"one") is None
    assert len(handoff) == 0


def test_the_oldest_go_past_the_limit() -> None:
    handoff = Handoff(limit=2)
    for n in range(3):
        handoff.keep(str(n).encode(), held(n))
    assert len(handoff) == 2
    assert handoff.take(b"0") is None
    assert handoff.take(b"2") is not None
