"""Shared by the flow and task engines: retry delays, timeouts, hooks, and outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from proctor.core.errors import ConfigurationError, RunTimeoutError
from proctor.events.ids import uuid7
from proctor.events.model import utcnow
from proctor.runtime.engine.clock import Clock
from proctor.runtime.engine.futures import TaskRunFuture
from proctor.runtime.engine.states import Completed, Failed, State, TimedOut

__all__ = (
    "RetryDelay",
    "acall_with_timeout",
    "arun_hooks",
    "call_with_timeout",
    "check_retry_options",
    "exponential_backoff",
    "failure_state",
    "outcome_state",
    "retry_delay",
    "run_coroutine_sync",
    "run_hooks",
)

log = logging.getLogger(__name__)
T = TypeVar("T")

RetryDelay = float | Sequence[float] | Callable[[int], Sequence[float]] | None
"""``retry_delay_seconds``: one delay, one per attempt, or a function of the retry count."""


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """Delays of ``backoff_factor * 2**n`` for retry ``n`` (pass as ``retry_delay_seconds``)."""

    def delays(retries: int) -> list[float]:
        return [backoff_factor * 2**n for n in range(retries)]

    return delays


def check_retry_options(
    owner: str, retries: int, timeout_s: float | None, jitter: float | None
) -> None:
    """``ConfigurationError`` naming the bad retry or timeout option."""
    if not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"{owner}: retries must be a whole number >= 0, not {retries!r}")
    if timeout_s is not None and timeout_s <= 0:
        raise ConfigurationError(f"{owner}: timeout_seconds must be > 0, not {timeout_s!r}")
    if jitter is not None and jitter < 0:
        raise ConfigurationError(f"{owner}: retry_jitter_factor must be >= 0, not {jitter!r}")


def retry_delay(
    delays: RetryDelay, retries: int, attempt: int, jitter_factor: float | None, clock: Clock
) -> float:
    """The delay before retry number ``attempt`` (1-based), jittered by up to ±factor."""
    if delays is None:
        base = 0.0
    elif isinstance(delays, int | float):
        base = float(delays)
    else:
        listed = delays(retries) if callable(delays) else delays
        base = float(listed[min(attempt, len(listed)) - 1]) if listed else 0.0
    if jitter_factor and base > 0:
        base *= 1 + jitter_factor * (2 * clock.random() - 1)
    return max(base, 0.0)


class _Expired(BaseException):
    """Raised inside a sync run's thread when its timeout expires (user code can't catch it)."""


def _timeout_error(seconds: float) -> RunTimeoutError:
    return RunTimeoutError(f"the run exceeded its timeout of {seconds:g} second(s)")


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    import ctypes  # only here: importing it costs `import proctor` ~1.5 ms

    thread_id = threading.get_ident()
    lock = threading.Lock()
    finished = False

    def expire() -> None:
        with lock:
            if not finished:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(thread_id), ctypes.py_object(_Expired)
                )

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            finished = True
        timer.cancel()


def call_with_timeout(
    fn: Callable[..., T], args: Sequence[Any], kwargs: dict[str, Any], seconds: float | None
) -> T:
    """Call ``fn``; ``RunTimeoutError`` if it runs longer than ``seconds``.

    In the main thread (with no SIGALRM handler of the program's) an alarm interrupts even a
    blocking call; elsewhere the timeout is raised in the thread at its next Python step.
    """
    if seconds is None:
        return fn(*args, **kwargs)
    use_alarm = threading.current_thread() is threading.main_thread() and signal.getsignal(
        signal.SIGALRM
    ) in (signal.SIG_DFL, None)
    try:
        with _alarm(seconds) if use_alarm else _watchdog(seconds):
            return fn(*args, **kwargs)
    except _Expired:
        raise _timeout_error(seconds) from None


async def acall_with_timeout(coroutine: Coroutine[Any, Any, T], seconds: float | None) -> T:
    """Await ``coroutine``; ``RunTimeoutError`` (and it is cancelled) after ``seconds``."""
    if seconds is None:
        return await coroutine
    timeout = asyncio.timeout(seconds)
    try:
        async with timeout:
            return await coroutine
    except TimeoutError:
        if timeout.expired():
            raise _timeout_error(seconds) from None
        raise


def failure_state(error: Exception) -> State[Any]:
    """Failed (or TimedOut) for an exception a run raised."""
    message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, RunTimeoutError):
        return TimedOut(message, error=error)
    return Failed(message, error=error)


def outcome_state(value: Any) -> State[Any]:
    """The final state for what a run returned: a returned ``State`` (or future) decides."""
    if isinstance(value, TaskRunFuture):
        value.wait()
        value = value.state
    if isinstance(value, State):
        if not value.is_final():
            return Failed(f"the run returned a non-final state: {value!r}")
        fresh = value.snapshot.model_copy(update={"id": uuid7(), "timestamp": utcnow()})
        return State(fresh, value.data, value.error)
    return Completed(value)


def run_coroutine_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from sync code (in a new thread if a loop runs here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=target, name="proctor-sync-coroutine")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def run_hooks(hooks: Sequence[Callable[..., Any]], *args: Any) -> None:
    """Call each hook once; a hook's error is logged, never raised."""
    for hook in hooks:
        try:
            outcome = hook(*args)
            if inspect.isawaitable(outcome):
                run_coroutine_sync(_await(outcome))
        except Exception:
            log.exception("hook %s raised", getattr(hook, "__name__", hook))


async def arun_hooks(hooks: Sequence[Callable[..., Any]], *args: Any) -> None:
    """Call (and await) each hook once; a hook's error is logged, never raised."""
    for hook in hooks:
        try:
            outcome = hook(*args)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            log.exception("hook %s raised", getattr(hook, "__name__", hook))


async def _await(awaitable: Any) -> Any:
    return await awaitable
