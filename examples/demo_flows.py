"""The flows of the quickstart demo (workers import them by path: examples/demo_flows.py)."""

from __future__ import annotations

from proctor import FlowRunContext, flow, get_run_context, get_run_logger, task


@task
def compile_assets(sha: str) -> int:
    get_run_logger().info("compiling assets at %s", sha[:7])
    return 42


@task
def publish(files: int, branch: str) -> str:
    return f"published {files} files to {branch}"


@flow(name="build-site")
def build_site(sha: str, branch: str = "master") -> str:
    """Started by a signed GitHub push, through the webhook and an automation."""
    return publish(compile_assets(sha), branch)


@flow(name="nightly-report")
def nightly_report() -> int:
    """Fails (on purpose) unless it is a retry, so the demo's automations alert and retry it."""
    run = get_run_context()
    assert isinstance(run, FlowRunContext)
    if run.run.snapshot.retry_of is None:
        raise ConnectionResetError("warehouse connection reset by peer")
    get_run_logger().info("report ready")
    return 7
