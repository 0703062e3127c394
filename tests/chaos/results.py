"""Figures of the chaos scenarios: one JSON line per run in ``artifacts/chaos/results.jsonl``.

``PROCTOR_CHAOS_SCALE=10`` (default 1) multiplies load sizes and fault repetitions: the long
suite is ``PROCTOR_CHAOS_SCALE=10 pytest tests/chaos``. ``PROCTOR_CHAOS_RESULTS`` names
another results file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.chaos.checker import DeliveryReport

__all__ = ("SCALE", "FaultResult", "record_result")

SCALE = int(os.environ.get("PROCTOR_CHAOS_SCALE", "1"))
if SCALE < 1:
    raise ValueError(f"PROCTOR_CHAOS_SCALE must be a whole number >= 1, not {SCALE}")

_DEFAULT = Path(__file__).parents[2] / "artifacts" / "chaos" / "results.jsonl"


@dataclass(frozen=True)
class FaultResult:
    """One scenario's row of the results table."""

    fault: str
    load_per_s: float
    """The load held: acknowledged ids per second over the scenario's load phase."""
    faults: int
    report: DeliveryReport
    recovery_s: dict[str, float]
    """Named recovery times, e.g. ``{"restart_to_ready": 1.9}``."""
    details: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "scale": SCALE,
            "fault": self.fault,
            "load_per_s": round(self.load_per_s, 1),
            "faults": self.faults,
            "sent": self.report.sent,
            "acknowledged": self.report.acknowledged,
            "lost": len(self.report.lost),
            "duplicated": len(self.report.duplicated),
            "recovery_s": {name: round(value, 2) for name, value in self.recovery_s.items()},
            **({"details": self.details} if self.details else {}),
        }


def record_result(result: FaultResult) -> dict[str, Any]:
    """Append ``result`` to the results file (and return the row written)."""
    path = Path(os.environ.get("PROCTOR_CHAOS_RESULTS", _DEFAULT))
    path.parent.mkdir(parents=True, exist_ok=True)
    row = result.row()
    with path.open("a") as file:
        file.write(json.dumps(row) + "\n")
    print(f"\n{json.dumps(row)}")
    return row
