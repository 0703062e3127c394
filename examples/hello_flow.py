"""Hello, flow: ``@flow`` and ``@task``, calling them, run logs, and ``log_prints``.

A flow is a plain function that runs as an observable run; the tasks it calls are runs of their
own. ``get_run_logger()`` logs to the run; with ``log_prints=True`` a ``print`` does too. No
server is needed: the flow just runs (and when a local server is running, its events and logs
reach it, so they show in the UI)::

    .venv/bin/python examples/hello_flow.py
"""

from __future__ import annotations

from proctor import flow, get_run_logger, task


@task
def greet(name: str) -> str:
    """A task: called inside a flow, it becomes a task run with its own state and logs."""
    get_run_logger().info("greeting %s", name)
    return f"Hello, {name}!"


@flow(name="hello", log_prints=True)
def hello(names: list[str]) -> list[str]:
    """Greets everyone; ``print`` goes to the run's log (``log_prints=True``)."""
    greetings = [greet(name) for name in names]
    for line in greetings:
        print(line)
    get_run_logger().info("greeted %d name(s)", len(greetings))
    return greetings


def main() -> None:
    print(hello(["Ada", "Grace"]))  # calling a flow runs it and returns its value
    state = hello(["Linus"], return_state=True)  # or its final state
    print(f"the run ended {state.name}: {state.result()}")


if __name__ == "__main__":
    main()
