"""``@flow``: a function whose every call is an observable, retryable flow run."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    ParamSpec,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)

from proctor.core.errors import ConfigurationError
from proctor.runtime.engine.execution import RetryDelay, check_retry_options
from proctor.runtime.engine.flow_engine import FlowRun
from proctor.runtime.engine.names import generate_run_name
from proctor.runtime.engine.parameters import Signature
from proctor.runtime.engine.states import State
from proctor.runtime.run_events import FlowRunSnapshot

if TYPE_CHECKING:
    from proctor.runtime.deployments.models import Deployment
    from proctor.runtime.deployments.python_api import DeployOptions

__all__ = ("Flow", "FlowHook", "FlowOptions", "flow")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

FlowHook = Callable[["Flow[Any, Any]", FlowRunSnapshot, State[Any]], object]
"""``hook(flow, flow_run, state)``, called once when the run ends (may be async)."""


class FlowOptions(TypedDict, total=False):
    """Options of ``@flow(...)`` and ``Flow.with_options(...)``."""

    name: str
    description: str | None
    version: str | None
    tags: Iterable[str]
    retries: int
    retry_delay_seconds: RetryDelay
    retry_jitter_factor: float | None
    retry_condition_fn: Callable[[Flow[Any, Any], FlowRunSnapshot, State[Any]], bool] | None
    timeout_seconds: float | None
    log_prints: bool
    validate_parameters: bool
    flow_run_name: str | Callable[[], str] | None
    on_completion: Sequence[FlowHook]
    on_failure: Sequence[FlowHook]
    on_cancellation: Sequence[FlowHook]
    on_crashed: Sequence[FlowHook]


class Flow(Generic[P, R]):
    """A decorated flow function. Calling it runs it (a subflow when called inside a flow)."""

    def __init__(self, fn: Callable[P, R], **options: Unpack[FlowOptions]) -> None:
        if not callable(fn):
            raise ConfigurationError(f"@flow decorates a function, not {fn!r}")
        self.fn = fn
        self._options = options
        default_name = getattr(fn, "__name__", "flow").replace("_", "-")
        self.name: str = options.get("name") or default_name
        self.description = options.get("description") or inspect.getdoc(fn)
        self.version = options.get("version")
        self.tags: tuple[str, ...] = tuple(options.get("tags", ()))
        self.retries: int = options.get("retries", 0)
        self.retry_delay_seconds: RetryDelay = options.get("retry_delay_seconds")
        self.retry_jitter_factor = options.get("retry_jitter_factor")
        self.retry_condition_fn = options.get("retry_condition_fn")
        self.timeout_seconds = options.get("timeout_seconds")
        self.log_prints: bool = options.get("log_prints", False)
        self.validate_parameters: bool = options.get("validate_parameters", True)
        self.flow_run_name = options.get("flow_run_name")
        self.on_completion = list(options.get("on_completion", ()))
        self.on_failure = list(options.get("on_failure", ()))
        self.on_cancellation = list(options.get("on_cancellation", ()))
        self.on_crashed = list(options.get("on_crashed", ()))
        check_retry_options(f"flow {self.name!r}", self.retries, self.timeout_seconds,
                             self.retry_jitter_factor)  # fmt: skip
        self.is_async = inspect.iscoroutinefunction(fn)
        self.signature = Signature(fn)
        functools.update_wrapper(self, fn)

    def with_options(self, **changes: Unpack[FlowOptions]) -> Flow[P, R]:
        """A copy of this flow with some options changed."""
        merged = FlowOptions(**self._options)
        merged.update(changes)
        return Flow(self.fn, **merged)

    def run_name(self, parameters: Mapping[str, Any]) -> str:
        template = self.flow_run_name
        if template is None:
            return generate_run_name()
        return str(template() if callable(template) else template.format(**parameters))

    def __repr__(self) -> str:
        return f"Flow({self.name!r})"

    def deploy(self, name: str, **options: Unpack[DeployOptions]) -> Deployment:
        """Create (or update) the deployment ``name`` of this flow on the server: workers of
        ``work_pool`` run it, on ``schedules`` (or ``cron=``/``interval=``) and on demand
        (``proctor deployment run``, ``run_deployment()``, automations)."""
        from proctor.runtime.deployments.python_api import flow_deploy

        return flow_deploy(self, name, options)

    def serve(
        self, name: str | None = None, *, limit: int | None = None, **options: Unpack[DeployOptions]
    ) -> None:
        """Register the deployment ``name`` and run its runs in this process until Ctrl-C.
        Inside a running event loop, ``await flow.aserve(...)`` instead."""
        from proctor.runtime.worker.serve import serve

        serve(self, name or self.name, options, limit=limit)

    async def aserve(
        self,
        name: str | None = None,
        *,
        limit: int | None = None,
        stop: asyncio.Event | None = None,
        **options: Unpack[DeployOptions],
    ) -> None:
        """``serve`` for async code: runs the deployment's runs until ``stop`` is set (or
        SIGINT/SIGTERM when it is not given), then lets the runs in hand finish."""
        from proctor.runtime.worker.serve import aserve

        await aserve(self, name or self.name, options, limit=limit, stop=stop)

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    @overload
    def __call__(  # type: ignore[valid-type]
        self: Flow[P, Coroutine[Any, Any, T]],
        *args: P.args,
        return_state: Literal[True],
        **kwargs: P.kwargs,
    ) -> Coroutine[Any, Any, State[T]]: ...

    @overload
    def __call__(  # type: ignore[valid-type]
        self: Flow[P, T], *args: P.args, return_state: Literal[True], **kwargs: P.kwargs
    ) -> State[T]: ...

    def __call__(self, *args: Any, return_state: bool = False, **kwargs: Any) -> Any:  # type: ignore[misc]
        """Run the flow; its value (or its final ``State`` with ``return_state=True``).

        A failed run re-raises its exception once the run is recorded as Failed.
        """
        if self.is_async:
            return self._call_async(args, kwargs, return_state)
        state = FlowRun(self, args, kwargs).run_sync()
        return state if return_state else state.result()

    async def _call_async(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
    ) -> Any:
        state = await FlowRun(self, args, kwargs).run_async()
        return state if return_state else state.result()


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...


@overload
def flow(**options: Unpack[FlowOptions]) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(
    fn: Callable[P, R] | None = None, /, **options: Unpack[FlowOptions]
) -> Flow[P, R] | Callable[[Callable[P, R]], Flow[P, R]]:
    """Make a function a flow: ``@flow`` or ``@flow(retries=1, log_prints=True, ...)``."""
    if fn is not None:
        return Flow(fn, **options)

    def decorate(function: Callable[P, R]) -> Flow[P, R]:
        return Flow(function, **options)

    return decorate
