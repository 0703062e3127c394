"""A run snapshot's JSON, as ``to_json(snapshot)`` writes it, for each event of the run.

From one state to the next a task run's snapshot changes only in its run count and its start
and end times (``RunTracker`` copies it with those updates). ``RunJson`` keeps the JSON of the
last snapshot it wrote and, for a copy of it that changed only those, writes the three values
again around the rest instead of serialising the whole snapshot.

This relies on the task-run snapshot's layout (``tests/unit/test_run_json.py``): ``run_count``
follows only strings, ids and a list of strings, so the first ``"run_count":`` is that field
(a key cannot occur inside a JSON string), and ``start_time`` and ``end_time`` are the last
two fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic_core import to_json

from proctor.runtime.run_events import FlowRunSnapshot, TaskRunSnapshot

__all__ = ("RunJson", "Updated")

Updated = tuple[FlowRunSnapshot | TaskRunSnapshot, Mapping[str, Any]]
"""A snapshot and the changes a copy of it made (without validation): ``replaced(...)``."""

_COUNT_AND_TIMES = frozenset({"run_count", "start_time", "end_time"})
_RUN_COUNT = b'"run_count":'
_START_TIME = b',"start_time":'
_END_TIME = b',"end_time":'


class RunJson:
    """The JSON of one run's successive snapshots (not thread-safe)."""

    __slots__ = ("_after", "_before", "_end", "_json", "_source", "_start", "same")

    def __init__(self) -> None:
        self._source: FlowRunSnapshot | TaskRunSnapshot | None = None
        self._json = b""
        self._before = b""  # up to the run count's value; empty: write the next one whole
        self._after = b""  # from after the run count's value up to the start time
        self._start = self._end = b"null"
        self.same = False

    def of(
        self,
        run: FlowRunSnapshot | TaskRunSnapshot,
        updated: Updated | None,
        now: datetime,
        now_json: bytes,
    ) -> bytes:
        """``to_json(run)``. ``updated``: what ``run`` was copied from, and the changes; a
        start or end time that is ``now`` (the time of the state being entered) is written
        as ``now_json``. Then ``same`` says whether ``run`` is the last snapshot, or a copy
        of it that changed only in its run count and times."""
        if run is self._source:
            self.same = True
            return self._json
        if (
            updated is not None
            and updated[0] is self._source
            and self._before
            and updated[1].keys() <= _COUNT_AND_TIMES
        ):
            changes = updated[1]
            if "start_time" in changes:
                value = changes["start_time"]
                self._start = now_json if value is now else _time_json(value)
            if "end_time" in changes:
                value = changes["end_time"]
                self._end = now_json if value is now else _time_json(value)
            made = b'%s%d%s,"start_time":%s,"end_time":%s}' % (
                self._before, run.run_count, self._after, self._start, self._end
            )  # fmt: skip
            self.same = True
        else:
            made = to_json(run)
            self.same = False
            self._before = b""
            if type(run) is TaskRunSnapshot:
                count = made.index(_RUN_COUNT) + len(_RUN_COUNT)
                start = made.rindex(_START_TIME)
                end = made.index(_END_TIME, start)
                self._before, self._after = made[:count], made[made.index(b",", count) : start]
                self._start = made[start + len(_START_TIME) : end]
                self._end = made[end + len(_END_TIME) : -1]
        self._source, self._json = run, made
        return made


def _time_json(value: datetime | None) -> bytes:
    return b"null" if value is None else to_json(value)
