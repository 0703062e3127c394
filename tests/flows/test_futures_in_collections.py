"""Futures inside collections are resolved and recorded as edges, as Prefect users expect."""

from __future__ import annotations

from proctor import flow, task


@task
def double(x: int) -> int:
    return 2 * x


@task
def total(values: list[int]) -> int:
    return sum(values)


@task
def pair(values: dict[str, int]) -> int:
    return values["a"] - values["b"]


def test_a_mapped_list_passed_to_a_task_arrives_as_values() -> None:
    @flow
    def fan_in() -> int:
        return total(double.map(range(10)))  # type: ignore[arg-type]  # futures in, values seen

    assert fan_in() == 90


def test_futures_in_a_dict_are_resolved() -> None:
    @flow
    def in_dict() -> int:
        return pair({"a": double.submit(5), "b": double.submit(1)})  # type: ignore[dict-item]

    assert in_dict() == 8


def test_wait_for_a_mapped_list_waits_for_each_of_its_runs() -> None:
    order: list[str] = []

    @task
    def record(name: str) -> None:
        order.append(name)

    @flow
    def fan_out_then_report() -> None:
        mapped = record.map(["a", "b", "c"])
        record.submit("report", wait_for=[mapped]).wait()

    fan_out_then_report()
    assert order[-1] == "report"
    assert sorted(order[:-1]) == ["a", "b", "c"]
