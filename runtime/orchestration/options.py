"""Timings of the runtime: heartbeats, crash and lateness bounds, retention."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from proctor.core.errors import ConfigurationError

__all__ = ("DEFAULT_HEARTBEAT_S", "RuntimeOptions")

_NUMBERS = (
    "heartbeat_s",
    "missed_heartbeats",
    "late_after_s",
    "check_interval_s",
    "concurrency_retry_s",
    "poll_s",
    "cancel_grace_s",
    "exit_grace_s",
)

DEFAULT_HEARTBEAT_S = 5.0


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """How often workers beat, when a run counts as crashed or late, how long entries live.

    A run held by a worker that missed ``missed_heartbeats`` beats in a row is marked Crashed:
    within ``heartbeat_s * missed_heartbeats + check_interval_s`` of the worker's death.
    """

    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    """How often a worker reports it is alive (and re-checks the runs it holds)."""
    missed_heartbeats: int = 3
    """Beats a worker may miss before its runs are marked Crashed."""
    late_after_s: float = 15.0
    """A run not claimed this long after its scheduled time is marked Late (once)."""
    check_interval_s: float = 1.0
    """How often the monitor looks for dead workers and late runs."""
    concurrency_retry_s: float = 1.0
    """A run waiting for a concurrency slot is offered again after this long."""
    poll_s: float = 1.0
    """A worker with nothing to do looks at its queues at least this often."""
    cancel_grace_s: float = 10.0
    """After a cancel, a run's process gets this long to end itself before it is killed."""
    exit_grace_s: float = 60.0
    """After its run ended (final-state hooks, last log lines), a run's process gets this long
    to exit before it is killed: a hung hook never holds the worker's slot or its shutdown."""
    retention: timedelta = timedelta(days=7)
    """How long run entries (and run requests) are kept."""

    def __post_init__(self) -> None:
        for name in ("heartbeat_s", "check_interval_s", "concurrency_retry_s", "poll_s"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(
                    f"runtime option {name} must be > 0, not {getattr(self, name)!r}",
                    setting=name,
                )
        if self.missed_heartbeats < 1:
            raise ConfigurationError(
                f"runtime option missed_heartbeats must be >= 1, not {self.missed_heartbeats}",
                setting="missed_heartbeats",
            )
        if min(self.late_after_s, self.cancel_grace_s, self.exit_grace_s) < 0:
            raise ConfigurationError(
                "runtime options late_after_s, cancel_grace_s and exit_grace_s must be >= 0",
                setting="late_after_s",
            )

    @property
    def crash_after_s(self) -> float:
        """Silence after which a worker counts as dead."""
        return self.heartbeat_s * self.missed_heartbeats

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RuntimeOptions:
        """Defaults, overridden by ``PROCTOR_RUNTIME_<OPTION>`` variables (seconds as numbers):
        ``PROCTOR_RUNTIME_HEARTBEAT_S``, ``..._MISSED_HEARTBEATS``, ``..._LATE_AFTER_S``,
        ``..._CHECK_INTERVAL_S``, ``..._CONCURRENCY_RETRY_S``, ``..._POLL_S``,
        ``..._CANCEL_GRACE_S``, ``..._EXIT_GRACE_S``."""
        values: dict[str, Any] = {}
        for name in _NUMBERS:
            variable = f"PROCTOR_RUNTIME_{name.upper()}"
            text = environ.get(variable)
            if text is None:
                continue
            try:
                values[name] = int(text) if name == "missed_heartbeats" else float(text)
            except ValueError:
                raise ConfigurationError(
                    f"{variable}={text!r} is not a number", setting=variable
                ) from None
        return cls(**values)

    @classmethod
    def fast(cls) -> RuntimeOptions:
        """Small intervals for tests and benchmarks."""
        return cls(
            heartbeat_s=0.1,
            missed_heartbeats=3,
            late_after_s=1.0,
            check_interval_s=0.05,
            concurrency_retry_s=0.05,
            poll_s=0.2,
            cancel_grace_s=2.0,
            exit_grace_s=5.0,
        )
