"""Concurrent tasks: ``.submit()`` and ``.map()`` return futures; ``wait_for`` orders runs.

``task.submit(...)`` starts a task run in the background and returns a future at once;
``task.map(items)`` starts one run per item. Passing a future as an argument waits for its
result (and records the edge in the run graph the UI draws); ``wait_for=[future]`` waits for a
run that returns nothing you need. ``future.result()`` blocks until the value is there. No
server needed::

    .venv/bin/python examples/map_tasks.py
"""

from __future__ import annotations

import time

from proctor import flow, get_run_logger, task, unmapped

PAGES = ["index", "about", "blog", "contact"]


@task
def clear_cache() -> None:
    """Must finish before the downloads start; returns nothing."""
    get_run_logger().info("cache cleared")


@task
def download(page: str, site: str) -> int:
    """Fetches one page (pretend: takes 0.2 s); its size in bytes."""
    time.sleep(0.2)  # the downloads overlap: four of them take about 0.2 s, not 0.8 s
    return len(site) + 100 * len(page)


@task
def add_up(sizes: list[int]) -> int:
    return sum(sizes)


@flow(name="mirror", log_prints=True)
def mirror(site: str, pages: list[str]) -> int:
    """Downloads every page of ``site`` concurrently, after clearing the cache."""
    cleared = clear_cache.submit()  # a future; the flow carries on
    sizes = download.map(pages, unmapped(site), wait_for=[cleared])  # one run per page
    total = add_up.submit(sizes)  # futures as arguments: runs once all downloads are done
    print(f"{len(sizes)} pages, {total.result()} bytes")
    return total.result()


def main() -> None:
    started = time.monotonic()
    total = mirror("example.org", PAGES)
    print(f"mirrored {total} bytes in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
