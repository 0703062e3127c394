"""Retries and caching: a flaky task retried after a delay, and results reused from the cache.

``fetch_rates`` fails twice (a stand-in for an unreliable API), so it is retried after 1 s,
then 2 s (``retry_delay_seconds``). Its result is cached per day (``cache_key_fn``) for an
hour (``cache_expiration``); ``convert`` is cached on its inputs (``cache_policy=INPUTS``). The
second run of the flow finds both in the cache: their task runs end ``Cached`` and the API is
not called again. Cached results live under ``PROCTOR_HOME/cache``. No server needed::

    .venv/bin/python examples/retries_and_caching.py
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from proctor import flow, get_run_logger, task
from proctor.cache_policies import INPUTS

API_CALLS: list[str] = []
"""The days ``fetch_rates`` asked the (pretend) API for, one entry per attempt."""


def by_day(context: Any, parameters: dict[str, Any]) -> str:
    """The cache key of ``fetch_rates``: one entry per day."""
    return f"rates-{parameters['day']}"


@task(retries=2, retry_delay_seconds=[1, 2], cache_key_fn=by_day,
      cache_expiration=timedelta(hours=1))  # fmt: skip
def fetch_rates(day: str) -> dict[str, float]:
    """Exchange rates of ``day``; the API fails on its first two calls."""
    API_CALLS.append(day)
    if API_CALLS.count(day) < 3:
        raise ConnectionError("rates API: 503 Service Unavailable")
    return {"EUR": 1.0, "USD": 1.08}


@task(cache_policy=INPUTS, cache_expiration=timedelta(hours=1))
def convert(amounts: list[float], rate: float) -> float:
    """An expensive sum: the same inputs give the cached result."""
    return round(sum(amounts) * rate, 2)


@flow(name="prices")
def prices(day: str, amounts: list[float]) -> dict[str, Any]:
    """The total of ``amounts`` in USD, with how each task run ended."""
    rates = fetch_rates(day, return_state=True)
    total = convert(amounts, rates.result()["USD"], return_state=True)
    get_run_logger().info("total %s USD", total.result())
    return {"total": total.result(), "fetch_rates": rates.name, "convert": total.name}


def main() -> None:
    print("first run: ", prices("2026-11-21", [10.0, 20.0]))  # two retries, then Completed
    print("second run:", prices("2026-11-21", [10.0, 20.0]))  # both Cached
    print(f"API calls: {len(API_CALLS)}")


if __name__ == "__main__":
    main()
