"""Run logs: the record model, ``get_run_logger()``, and ``log_prints``.

A log line written through ``get_run_logger()`` (or a ``print`` inside a run with
``log_prints=True``) becomes a ``RunLog``, shipped on the bus in the logs stream
(``Naming.logs_stream``, subject ``<logs_prefix>.<flow run id>``, header ``Nats-Msg-Id`` = log
id, body = ``RunLog`` as JSON), so the recorder can store it and the UI show it. It is also
printed to stderr when the program has configured no logging of its own.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import sys
import threading
from collections.abc import Iterator, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from proctor.events.ids import uuid7

if TYPE_CHECKING:
    from proctor.runtime.engine.publishing import Outbox

__all__ = (
    "FLOW_RUN_LOGGER",
    "MAX_LOG_MESSAGE_CHARS",
    "TASK_RUN_LOGGER",
    "LogTarget",
    "RunLog",
    "RunLogger",
    "capture_prints",
    "printing_to_log",
    "run_logger",
)

FLOW_RUN_LOGGER = "proctor.flow_runs"
TASK_RUN_LOGGER = "proctor.task_runs"
MAX_LOG_MESSAGE_CHARS = 32 * 1024


class RunLog(BaseModel):
    """One log line of a run, as it travels on the logs stream and is stored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID = Field(default_factory=uuid7, description="Time-ordered id; the dedup key.")
    flow_run_id: UUID | None = Field(description="The flow run it belongs to.")
    task_run_id: UUID | None = Field(default=None, description="The task run, if any.")
    name: str = Field(description="Logger name, e.g. proctor.flow_runs.")
    level: int = Field(description="Python logging level number (20 = INFO).")
    message: str = Field(description="The formatted line, with a traceback if one was logged.")
    timestamp: datetime = Field(description="When it was logged, aware UTC.")


@dataclass(frozen=True, slots=True)
class LogTarget:
    """Where one run's log lines go: its ids, a label for the console, and the outbox."""

    flow_run_id: UUID | None
    task_run_id: UUID | None
    label: str
    outbox: Outbox[RunLog] | None


RunLogger = logging.LoggerAdapter[logging.Logger]


class _RunAdapter(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra, own = kwargs.get("extra"), self.extra or {}
        kwargs["extra"] = {**extra, **own} if extra else own
        return msg, kwargs


def run_logger(name: str, target: LogTarget) -> RunLogger:
    """A logger whose lines carry ``target`` (``get_run_logger()`` builds on this)."""
    _install()
    return _RunAdapter(logging.getLogger(name), {"proctor_run": target})


class _ShipHandler(logging.Handler):
    """Turns records of runs into ``RunLog`` items on their run's outbox."""

    def emit(self, record: logging.LogRecord) -> None:
        target: LogTarget | None = getattr(record, "proctor_run", None)
        if target is None or target.outbox is None:
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{self.formatter_for_exc.formatException(record.exc_info)}"
            target.outbox.add(
                RunLog(
                    flow_run_id=target.flow_run_id,
                    task_run_id=target.task_run_id,
                    name=record.name,
                    level=record.levelno,
                    message=message[:MAX_LOG_MESSAGE_CHARS],
                    timestamp=datetime.fromtimestamp(record.created, UTC),
                )
            )
        except Exception:
            self.handleError(record)

    formatter_for_exc = logging.Formatter()


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Prints run log lines to stderr, unless the program configured logging itself."""

    def emit(self, record: logging.LogRecord) -> None:
        if logging.root.handlers:
            return  # the record propagates to the program's own handlers
        record.run_label = getattr(record.__dict__.get("proctor_run"), "label", "")
        super().emit(record)


_install_lock = threading.Lock()
_installed = False


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        console = _ConsoleHandler(sys.stderr)
        console.setFormatter(
            logging.Formatter(
                "%(asctime)s.%(msecs)03d | %(levelname)-7s | %(run_label)s - %(message)s",
                "%H:%M:%S",
            )
        )
        ship = _ShipHandler()
        for name in (FLOW_RUN_LOGGER, TASK_RUN_LOGGER):
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)
            logger.addHandler(ship)
            logger.addHandler(console)
        _installed = True


_print_target: ContextVar[RunLogger | None] = ContextVar("proctor_print_target", default=None)
_print_lock = threading.Lock()
_print_users = 0
_original_print = builtins.print


def _print(*values: object, sep: str | None = " ", end: str | None = "\n", file: Any = None,
           flush: bool = False) -> None:  # fmt: skip
    logger = _print_target.get()
    if logger is None or file not in (None, sys.stdout):
        _original_print(*values, sep=sep, end=end, file=file, flush=flush)
        return
    logger.info((" " if sep is None else sep).join(str(value) for value in values))


@contextlib.contextmanager
def capture_prints(logger: RunLogger | None) -> Iterator[None]:
    """Within this block (and this context), ``print`` goes to ``logger`` (None: to stdout)."""
    global _print_users
    token = _print_target.set(logger)
    with _print_lock:
        if _print_users == 0:
            builtins.print = _print
        _print_users += 1
    try:
        yield
    finally:
        with _print_lock:
            _print_users -= 1
            if _print_users == 0:
                builtins.print = _original_print
        _print_target.reset(token)


def printing_to_log() -> bool:
    """Whether a ``print`` here would go to a run logger."""
    return _print_target.get() is not None
