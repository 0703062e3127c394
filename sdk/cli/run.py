"""``proctor run ls | inspect | logs | watch | cancel | retry``: flow runs from a terminal.

Runs are named by id or by name (``happy-crane``). Tables for people, ``--json`` for scripts;
what waits shows a spinner on stderr, so stdout stays parseable. ``watch`` exits with the
run's outcome: 0 completed, 1 failed, crashed or cancelled (124 if ``--timeout`` ran out).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from proctor.cli._common import err, fail, out, run_async
from proctor.core.errors import NotFoundError
from proctor.core.settings import ProctorSettings

if TYPE_CHECKING:
    from proctor.runtime.client import ProctorClient
    from proctor.runtime.store import FlowRunRecord, RunLogRecord, StateRecord

app = typer.Typer(help="List, inspect and follow flow runs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
RunArgument = Annotated[str, typer.Argument(help="The run's id or name.", metavar="RUN")]
EXIT_FAILED = 1
EXIT_TIMEOUT = 124
_STYLE = {
    "COMPLETED": "green",
    "FAILED": "bold red",
    "CRASHED": "bold red",
    "RUNNING": "blue",
    "CANCELLING": "yellow",
    "CANCELLED": "dim",
    "SCHEDULED": "yellow",
    "PENDING": "cyan",
    "PAUSED": "magenta",
}
_BAD = ("Failed", "Crashed", "TimedOut")
_PIPE_WIDTH = 200  # not a terminal (a pipe, a file): do not squeeze the table into 80 columns
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_SINCE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _client() -> ProctorClient:
    from proctor.runtime.client import ProctorClient

    return ProctorClient.from_settings(ProctorSettings())


def since_to_time(text: str, now: datetime) -> datetime:
    """``now`` minus a duration like 30m, 24h or 7d (fails naming ``--since`` otherwise)."""
    match = _SINCE.match(text.strip())
    if match is None:
        fail(f"--since: {text!r} is not a duration like 90s, 30m, 24h or 7d")
    return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


async def resolve(client: ProctorClient, reference: str) -> FlowRunRecord:
    """The run with id ``reference``, or the one run named so; one-line errors otherwise."""
    from proctor.runtime.store import FlowRunFilter

    try:
        run_id = UUID(reference)
    except ValueError:
        pass
    else:
        try:
            return await client.flow_runs.read(run_id)
        except NotFoundError:
            fail(f"no flow run with id {reference}: list runs with `proctor run ls`")
    page = await client.flow_runs.list(FlowRunFilter(name_contains=reference), limit=1000)
    named = [run for run in page.items if run.name == reference]
    if not named:
        fail(f"no flow run named {reference!r}: give a run id or name from `proctor run ls`")
    if len(named) > 1:
        fail(f"{len(named)} flow runs are named {reference!r}: give its id (`proctor run ls`)")
    return named[0]


def _state(state: StateRecord) -> str:
    return f"[{_STYLE.get(state.type.value, 'default')}]{escape(state.name)}[/]"


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _duration(run: FlowRunRecord, now: datetime) -> str:
    if run.start_time is None:
        return "-"
    seconds = ((run.end_time or now) - run.start_time).total_seconds()
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m {rest}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60}m"


def _dump(value: Any) -> None:
    print(json.dumps(value, indent=None, separators=(",", ":")))


@app.command("ls")
@run_async
async def ls(
    state: Annotated[
        list[str] | None,
        typer.Option(help="A state type (FAILED, RUNNING...) or name (Late); repeatable."),
    ] = None,
    flow: Annotated[list[str] | None, typer.Option(help="A flow name; repeatable.")] = None,
    deployment: Annotated[
        list[str] | None, typer.Option(help="A deployment id; repeatable.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Runs with all these tags.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Changed state within this long: 30m, 24h, 7d.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many runs.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """List flow runs, latest change first."""
    from proctor.runtime.run_events import StateType
    from proctor.runtime.store import FlowRunFilter, RunSort

    types, names = [], []
    for value in state or []:
        if value.upper() in StateType.__members__:
            types.append(StateType(value.upper()))
        else:
            names.append(value)
    try:
        deployments = [UUID(value) for value in deployment or []]
    except ValueError:
        fail("--deployment: give a deployment id (a UUID)")
    now = datetime.now(UTC)
    where = FlowRunFilter(
        state_types=types or None,
        state_names=names or None,
        flow_names=flow or None,
        deployment_ids=deployments or None,
        tags=tag or None,
        updated_after=since_to_time(since, now) if since else None,
    )
    async with _client() as client:
        page = await client.flow_runs.list(where, sort=RunSort.UPDATED_DESC, limit=limit)
    if json_output:
        _dump([run.model_dump(mode="json") for run in page.items])
        return
    if not page.items:
        err.print("no flow runs match", highlight=False)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "NAME", "FLOW", "STATE", "STARTED", "DURATION"):
        table.add_column(column, no_wrap=column in ("ID", "STATE"))
    for run in page.items:
        table.add_row(
            str(run.id),
            escape(run.name),
            escape(run.flow_name),
            _state(run.state),
            _when(run.start_time),
            _duration(run, now),
        )
    (out if out.is_terminal else Console(width=_PIPE_WIDTH, soft_wrap=True)).print(table)
    if page.next_page:
        err.print(f"(first {limit}; see more with --limit)", highlight=False)


@app.command()
@run_async
async def inspect(run: RunArgument, json_output: JsonOption = False) -> None:
    """Show a run: its details, state history, task runs by state, and error."""
    async with _client() as client:
        record = await resolve(client, run)
        states = await client.flow_runs.states(record.id)
        graph = await client.flow_runs.graph(record.id)
    if json_output:
        _dump(
            {
                "run": record.model_dump(mode="json"),
                "states": [s.model_dump(mode="json") for s in states],
                "task_runs": [t.model_dump(mode="json") for t in graph.nodes],
            }
        )
        return
    now = datetime.now(UTC)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim")
    facts.add_column()
    rows: list[tuple[str, str]] = [
        ("id", str(record.id)),
        ("flow", record.flow_name),
        ("state", _state(record.state)),
        ("deployment", record.deployment_name or str(record.deployment_id or "-")),
        ("work pool", record.work_pool or "-"),
        ("tags", ", ".join(record.tags) or "-"),
        ("started", _when(record.start_time)),
        ("ended", _when(record.end_time)),
        ("duration", _duration(record, now)),
        ("parameters", json.dumps(record.parameters) if record.parameters else "-"),
    ]
    if record.retry_of:
        rows.append(("retry of", str(record.retry_of)))
    for key, value in rows:
        facts.add_row(key, value if key == "state" else escape(value))
    out.print(f"[bold]{escape(record.name)}[/]")
    out.print(facts)
    if record.state.message and record.state.type.value in ("FAILED", "CRASHED"):
        out.print(f"\n[red]{escape(record.state.message)}[/]", highlight=False)
    out.print("\n[bold]states[/]")
    for state in states:
        message = f"  {escape(state.message)}" if state.message else ""
        out.print(f"  {_when(state.timestamp)}  {_state(state)}{message}", highlight=False)
    if graph.nodes:
        counts: dict[str, int] = {}
        for node in graph.nodes:
            counts[node.state.name] = counts.get(node.state.name, 0) + 1
        failures_first = sorted(counts.items(), key=lambda item: (item[0] not in _BAD, item[0]))
        summary = ", ".join(f"{n} {name.lower()}" for name, n in failures_first)
        out.print(f"\n[bold]{len(graph.nodes)} task runs[/]: {summary}", highlight=False)
        for node in graph.nodes:
            if node.state.type.value in ("FAILED", "CRASHED"):
                message = escape(node.state.message or "")
                out.print(f"  {_state(node.state)} {escape(node.name)}: {message}", highlight=False)


def _log_line(line: RunLogRecord) -> str:
    level = {v: k for k, v in _LEVELS.items()}.get(line.level, str(line.level))
    when = line.timestamp.astimezone().strftime("%H:%M:%S.%f")[:-3]
    return f"{when} {level:<8} {line.message}"


@app.command()
@run_async
async def logs(
    run: RunArgument,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the run ends.")
    ] = False,
    level: Annotated[
        str, typer.Option(help="Lowest level shown: DEBUG, INFO, WARNING, ERROR.")
    ] = "DEBUG",
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON line per log line.")
    ] = False,
) -> None:
    """Print a run's logs, oldest first (with --follow, until the run has ended)."""
    min_level = _LEVELS.get(level.upper())
    if min_level is None:
        fail(f"--level: {level!r} is not one of {', '.join(_LEVELS)}")
    async with _client() as client:
        record = await resolve(client, run)
        async for line in client.flow_runs.follow_logs(
            record.id, min_level=min_level, follow=follow
        ):
            if json_output:
                print(line.model_dump_json(), flush=True)
            else:
                out.print(_log_line(line), highlight=False, markup=False)


@app.command()
@run_async
async def watch(
    run: RunArgument,
    timeout_s: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="Give up after this many seconds (exit 124)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON line per state.")] = False,
) -> None:
    """Follow a run until it ends; exit 0 if it completed, 1 if it failed, crashed or was
    cancelled."""
    async with _client() as client:
        record = await resolve(client, run)
        try:
            final = await asyncio.wait_for(_follow(client, record, json_output), timeout_s)
        except TimeoutError:
            fail(f"run {record.name} has not ended after {timeout_s:g}s", EXIT_TIMEOUT)
    if final.type.value != "COMPLETED":
        raise typer.Exit(EXIT_FAILED)


async def _follow(
    client: ProctorClient,
    record: FlowRunRecord,
    json_output: bool,
    before: Callable[[], Awaitable[object]] | None = None,
) -> StateRecord:
    """Print each state of the run until a final one; return that. ``before`` runs once the
    live stream is subscribed and the current state read (so nothing it causes is missed)."""
    last = record.state
    states = client.flow_runs.watch(record.id)
    with err.status(f"watching {record.name}…", spinner="dots") as status:
        async for state in states:
            if before is not None:
                await before()
                before = None
            last = state
            if json_output:
                print(state.model_dump_json(), flush=True)
            else:
                message = f"  {escape(state.message)}" if state.message else ""
                name = escape(record.name)
                out.print(
                    f"{_when(state.timestamp)}  {name}  {_state(state)}{message}", highlight=False
                )
            status.update(f"{record.name}: {state.name}…")
    return last


@app.command()
@run_async
async def cancel(
    run: RunArgument,
    message: Annotated[str | None, typer.Option(help="Why (recorded with the state).")] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the run is Cancelled.")
    ] = True,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON line per state.")] = False,
) -> None:
    """Cancel a run requested from a deployment: Cancelling, then Cancelled once its process
    has stopped. Exits 0 once cancelled (or requested, with --no-wait), 1 otherwise."""
    from proctor.runtime.store import StateRecord

    async with _client() as client:
        record = await resolve(client, run)
        if wait:
            final = await _follow(
                client, record, json_output, lambda: client.runs.cancel(record.id, message)
            )
        else:
            status = await client.runs.cancel(record.id, message)
            state = StateRecord.model_validate(status.state.model_dump())
            if json_output:
                print(state.model_dump_json(), flush=True)
            else:
                out.print(f"{escape(record.name)}  {_state(state)}  (cancel requested)")
            return
    if final.type.value != "CANCELLED":
        fail(f"run {record.name} ended {final.name}, not Cancelled", EXIT_FAILED)


@app.command()
@run_async
async def retry(
    run: RunArgument,
    watch: Annotated[bool, typer.Option("--watch", help="Follow the new run to its end.")] = False,
    timeout_s: Annotated[
        float | None, typer.Option("--timeout", min=0, help="With --watch: give up (exit 124).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the new run as JSON (with --watch: a line each).")
    ] = False,
) -> None:
    """Run an ended deployment run again with the same parameters. With --watch, exits 0 if
    the new run completed, 1 otherwise (124 if --timeout ran out)."""
    async with _client() as client:
        record = await resolve(client, run)
        again = await client.runs.retry(record.id)
        if json_output:
            print(again.model_dump_json(), flush=True)
        else:
            out.print(f"{escape(again.name)} ({again.flow_run_id}) retries {escape(record.name)}")
        if not watch:
            return
        final = await follow_run(client, again.flow_run_id, json_output, timeout_s)
    if final != "Completed":
        fail(f"run {again.name} ended {final or 'in an unknown state'}", EXIT_FAILED)


async def follow_run(
    client: ProctorClient, run_id: UUID, json_output: bool, timeout_s: float | None
) -> str:
    """Print each state of a requested run until it ends (a JSON line each with
    ``json_output``); the last state's name. Exits 124 after ``timeout_s``."""
    last = ""
    try:
        with err.status("waiting for the run…", spinner="dots"):
            async for status in client.runs.follow(run_id, timeout_s=timeout_s):
                last = status.state.name
                if json_output:
                    print(status.model_dump_json(), flush=True)
                else:
                    message = f"  {escape(status.state.message)}" if status.state.message else ""
                    out.print(f"  {status.state.name}{message}", highlight=False)
    except TimeoutError:
        fail(f"run {run_id} has not ended after {timeout_s:g}s", EXIT_TIMEOUT)
    return last
