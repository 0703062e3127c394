"""Runtime timings: defaults, PROCTOR_RUNTIME_* overrides, clear errors."""

from __future__ import annotations

import pytest

from proctor.core.errors import ConfigurationError
from proctor.runtime.orchestration import RuntimeOptions


def test_the_crash_bound_is_missed_heartbeats_times_the_interval() -> None:
    options = RuntimeOptions.from_environ(
        {"PROCTOR_RUNTIME_HEARTBEAT_S": "2", "PROCTOR_RUNTIME_MISSED_HEARTBEATS": "4"}
    )
    assert options.crash_after_s == 8.0
    assert RuntimeOptions.from_environ({}) == RuntimeOptions()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PROCTOR_RUNTIME_HEARTBEAT_S": "fast"}, "PROCTOR_RUNTIME_HEARTBEAT_S='fast'"),
        ({"PROCTOR_RUNTIME_HEARTBEAT_S": "0"}, "heartbeat_s must be > 0"),
        ({"PROCTOR_RUNTIME_MISSED_HEARTBEATS": "0"}, "missed_heartbeats must be >= 1"),
    ],
)
def test_bad_values_name_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RuntimeOptions.from_environ(environ)
