"""``tune_for_service``: the collector's settings for a service process, made once."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from proctor.core.gc_tuning import (
    SERVICE_YOUNG_THRESHOLD,
    hold_until_loaded,
    release_loaded,
    tune_for_service,
)


@pytest.fixture
def default_gc() -> Iterator[None]:
    """CPython's default thresholds for the test; the process's own settings after it."""
    before = gc.get_threshold()
    gc.set_threshold(700, before[1], before[2])
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.usefixtures("default_gc")
def test_it_raises_the_young_threshold_and_freezes_what_is_loaded() -> None:
    assert tune_for_service() is True
    assert gc.get_threshold()[0] == SERVICE_YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("default_gc")
def test_a_second_call_changes_nothing() -> None:
    tune_for_service()
    frozen = gc.get_freeze_count()
    assert tune_for_service() is False
    assert gc.get_freeze_count() == frozen


@pytest.mark.usefixtures("default_gc")
def test_held_until_loaded_nothing_is_collected_and_the_service_setting_is_made() -> None:
    hold_until_loaded()
    frozen = gc.get_freeze_count()
    try:
        assert not gc.isenabled()
        assert tune_for_service() is False  # no collection, no freeze: the holder does it
        assert gc.get_freeze_count() == frozen
        loaded: list[list[int]] = [[] for _ in range(100)]
    finally:
        release_loaded()
    assert gc.isenabled()
    assert gc.get_threshold()[0] == SERVICE_YOUNG_THRESHOLD
    assert gc.get_freeze_count() >= frozen + len(loaded)
