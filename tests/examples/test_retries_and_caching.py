"""examples/retries_and_caching.py on a fake clock: the retry delays it asks for, the second run
served from the cache, and the cache expiring after an hour."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from examples import retries_and_caching as example

from proctor import FakeClock, use_clock


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    example.API_CALLS.clear()
    with use_clock(FakeClock()) as fake:
        yield fake
    example.API_CALLS.clear()


def test_main_retries_then_serves_the_second_run_from_the_cache(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    example.main()
    out = capsys.readouterr().out
    assert "first run:  {'total': 32.4, 'fetch_rates': 'Completed', 'convert': 'Completed'}" in out
    assert "second run: {'total': 32.4, 'fetch_rates': 'Cached', 'convert': 'Cached'}" in out
    assert "API calls: 3" in out  # two failures and a success; nothing for the second run
    assert clock.sleeps == [1, 2]  # retry_delay_seconds


def test_the_cache_expires_after_an_hour(clock: FakeClock) -> None:
    assert example.prices("2026-11-21", [1.0])["fetch_rates"] == "Completed"
    clock.advance(59 * 60)
    assert example.prices("2026-11-21", [1.0])["fetch_rates"] == "Cached"
    assert example.prices("2026-11-22", [1.0])["fetch_rates"] == "Completed"  # another day
    clock.advance(60)
    assert example.prices("2026-11-21", [1.0]) == {
        "total": 1.08,
        "fetch_rates": "Completed",  # expired: the API is called again
        "convert": "Completed",
    }
    assert example.API_CALLS.count("2026-11-21") == 4
