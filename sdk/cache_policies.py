"""Cache policies for tasks: ``@task(cache_policy=INPUTS, cache_expiration=timedelta(hours=1))``.

``INPUTS`` (same inputs), ``TASK_SOURCE`` (same source code), ``DEFAULT`` (both), ``NO_CACHE``;
combine them with ``+``. A ``cache_key_fn`` given to the task takes precedence.
"""

from proctor.runtime.engine.caching import DEFAULT, INPUTS, NO_CACHE, TASK_SOURCE, CachePolicy

__all__ = ("DEFAULT", "INPUTS", "NO_CACHE", "TASK_SOURCE", "CachePolicy")
