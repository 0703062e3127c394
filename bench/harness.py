"""What every benchmark shares: result rows with targets, a plain table, JSON, a broker.

A benchmark is a module with ``TITLE`` and ``run(options) -> Result``. Rows put Proctor and
the baseline (raw nats-py, Prefect) side by side with the target and a verdict.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proctor.events.nats_server import EmbeddedNats

__all__ = (
    "Cell",
    "Options",
    "Result",
    "Row",
    "Verdict",
    "at_least",
    "at_most",
    "cache_bytecode",
    "embedded_nats",
    "machine",
    "median",
    "percentile",
    "proctor_environ",
    "ratio_at_least",
    "ratio_info",
)


@dataclass(frozen=True, slots=True)
class Options:
    """How hard to run: ``runs`` repetitions (medians are reported); ``quick`` shrinks loops."""

    runs: int = 3
    quick: bool = False
    install_prefect: bool = True

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclass(frozen=True, slots=True)
class Verdict:
    """A figure checked against its target: the text shown, and whether it passed."""

    target: str
    shown: str
    passed: bool | None  # None: could not be checked (a figure is missing)


def at_least(value: float | None, bound: float, unit: str = "") -> Verdict:
    target = f">= {_number(bound)}{unit}"
    if value is None:
        return Verdict(target, "n/a", None)
    return Verdict(target, "PASS" if value >= bound else "MISS", value >= bound)


def at_most(value: float | None, bound: float, unit: str = "") -> Verdict:
    target = f"<= {_number(bound)}{unit}"
    if value is None:
        return Verdict(target, "n/a", None)
    return Verdict(target, "PASS" if value <= bound else "MISS", value <= bound)


def ratio_at_least(value: float | None, baseline: float | None, bound: float, what: str) -> Verdict:
    """``value / baseline >= bound``, shown as the ratio (``0.62x``) and PASS or MISS."""
    target = f">= {_number(bound)}x {what}"
    if value is None or not baseline:
        return Verdict(target, "n/a", None)
    ratio = value / baseline
    passed = ratio >= bound
    return Verdict(target, f"{_number(ratio)}x {'PASS' if passed else 'MISS'}", passed)


Cell = float | str | None
"""A figure, a word in its place (``"skipped"``), or nothing."""


def ratio_info(value: float | None, baseline: float | None) -> Verdict:
    """``value / baseline`` shown without a target."""
    if value is None or not baseline:
        return Verdict("", "", None)
    return Verdict("", f"{_number(value / baseline)}x", None)


@dataclass(frozen=True, slots=True)
class Row:
    """One metric: Proctor's figure, the baseline's, and the verdict (if it has a target)."""

    metric: str
    unit: str
    proctor: Cell
    baseline: Cell = None
    verdict: Verdict | None = None


@dataclass
class Result:
    """A benchmark's outcome: rows for the table, notes under it, raw figures for JSON."""

    name: str
    title: str
    baseline: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r.verdict.passed is not False for r in self.rows if r.verdict is not None)

    def render(self) -> str:
        header = ("metric", "Proctor", self.baseline, "target", "ratio / verdict")
        body = [
            (
                f"{row.metric} ({row.unit})" if row.unit else row.metric,
                _cell(row.proctor),
                _cell(row.baseline),
                row.verdict.target if row.verdict else "",
                row.verdict.shown if row.verdict else "",
            )
            for row in self.rows
        ]
        widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
        aligns: Sequence[Callable[[str, int], str]] = (
            str.ljust, str.rjust, str.rjust, str.ljust, str.ljust
        )  # fmt: skip

        def line(cells: Sequence[str]) -> str:
            return "  ".join(a(c, w) for a, c, w in zip(aligns, cells, widths, strict=True))

        out = [f"== {self.name}: {self.title}", line(header), "  ".join("-" * w for w in widths)]
        out += [line(cells).rstrip() for cells in body]
        out += [f"  * {note}" for note in self.notes]
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "baseline": self.baseline,
            "passed": self.passed,
            "rows": [
                {
                    "metric": row.metric,
                    "unit": row.unit,
                    "proctor": row.proctor,
                    "baseline": row.baseline,
                    "verdict": asdict(row.verdict) if row.verdict else None,
                }
                for row in self.rows
            ],
            "notes": self.notes,
            "raw": self.raw,
        }


def machine() -> dict[str, Any]:
    """Where the figures were measured, for the JSON record."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest rank."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def proctor_environ(home: Path) -> dict[str, str]:
    """This environment for a Proctor process: no ``PROCTOR_*`` settings but the home, and
    bytecode written and read, as an installed package's is (pip compiles it at install time;
    ``PYTHONDONTWRITEBYTECODE`` would have every start compile Proctor's modules again)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCTOR_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PROCTOR_HOME"] = str(home)
    return env


def cache_bytecode(modules: str) -> None:
    """Import ``modules`` (``"a, b.c"``) once in a process of its own, untimed, so that their
    bytecode is cached before a timed start."""
    with tempfile.TemporaryDirectory(prefix="proctor-bench-bytecode-") as folder:
        env = proctor_environ(Path(folder))
        subprocess.run([sys.executable, "-c", f"import {modules}"], env=env, check=True)


@contextlib.contextmanager
def embedded_nats() -> Iterator[EmbeddedNats]:
    """A private nats-server (127.0.0.1, free port) in a temporary folder, stopped after."""
    with tempfile.TemporaryDirectory(prefix="proctor-bench-nats-") as folder:
        server = EmbeddedNats(Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()


def _number(value: float) -> str:
    if value == 0 or math.isnan(value):
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _cell(value: Cell) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else _number(value)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """Stop a server started by a benchmark as Ctrl-C would; kill it if it does not exit."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
