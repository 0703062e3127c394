"""Automation definitions: exact JSON round-trips (secrets included only when revealed),
and bad rules refused when made, naming the field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from proctor.automations import (
    Automation,
    CallWebhook,
    CancelFlowRun,
    ChangeFlowRunState,
    EmitEvent,
    PauseAutomation,
    PauseDeployment,
    ResumeAutomation,
    ResumeDeployment,
    RetryFlowRun,
    RunDeployment,
    SendSlackMessage,
    Throttle,
)
from proctor.automations.secrets import MASK
from proctor.automations.validation import problem
from proctor.events.labels import ID_LABEL
from proctor.triggers import (
    CompoundTrigger,
    CronTrigger,
    IntervalTrigger,
    SequenceTrigger,
    on_event,
    on_flow_completed,
    on_flow_failed,
)

SLACK = "https://hooks.slack.com/services/T0/B0/secret-token"


def _everything() -> Automation:
    return Automation(
        name="everything",
        description="every action and trigger kind",
        trigger=CompoundTrigger(
            triggers=(
                on_flow_failed("etl", threshold=2, within=timedelta(hours=1)),
                SequenceTrigger(triggers=(on_event("a.b"), on_flow_completed(deployment="x/y"))),
                CronTrigger(cron="0 9 * * 1-5", timezone="Europe/Paris"),
                IntervalTrigger(every=timedelta(minutes=15)),
            ),
            require="any",
        ),
        actions=(
            RunDeployment(deployment="etl/nightly", parameters={"n": "{{ event.payload.n }}"}),
            RetryFlowRun(max_attempts=4, delay=timedelta(seconds=30)),
            CancelFlowRun(),
            ChangeFlowRunState(state="FAILED", message="stuck"),
            PauseDeployment(deployment="etl/nightly"),
            ResumeDeployment(deployment="etl/nightly"),
            PauseAutomation(),
            ResumeAutomation(automation="other"),
            SendSlackMessage(webhook_url=SLACK, text="*{{ flow_run.name }}* failed"),
            CallWebhook(
                url="https://example.com/hook?token=abc",
                headers={"x-run": "{{ flow_run.id }}"},
                body={"event": "{{ event }}"},
                secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=",
            ),
            EmitEvent(event="etl.retried", resource={ID_LABEL: "etl"}, payload={"k": [1, 2]}),
        ),
        enabled=False,
        tags=("team:data",),
        debounce=timedelta(seconds=10),
        throttle=Throttle(limit=5, per=timedelta(minutes=1)),
    )


def test_to_json_round_trips_exactly_with_secrets() -> None:
    automation = _everything()
    again = Automation.from_json(automation.to_json())
    assert again == automation
    assert again.to_json() == automation.to_json()
    assert again.digest() == automation.digest()
    assert "secret-token" in automation.to_json()


def test_plain_json_and_repr_mask_the_secrets() -> None:
    automation = _everything()
    for shown in (automation.model_dump_json(), repr(automation), str(automation)):
        assert "secret-token" not in shown
        assert "token=abc" not in shown
        assert "QUJDREVG" not in shown
    assert MASK in automation.model_dump_json()


def _problem(data: dict[str, object]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as error:
        Automation.model_validate(data)
    return problem(error.value)


BASE: dict[str, object] = {
    "name": "x",
    "trigger": {"type": "event", "expect": ["a.b"]},
    "actions": [{"type": "run-deployment", "deployment": "etl/nightly"}],
}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"colour": "red"}, "colour", "Extra inputs"),
        ({"trigger": {"type": "cron", "cron": "61 * * * *"}}, "trigger.cron", "invalid"),
        ({"trigger": {"type": "event", "where": "$.payload.x =="}}, "trigger.where", "JSONPath"),
        ({"trigger": {"type": "event", "expect": ["a..b"]}}, "trigger.expect.0", "token"),
        (
            {"actions": [{"type": "run-deployment", "parameters": {"sha": "{{ x }"}}]},
            "actions.0.parameters.sha",
            "unexpected",
        ),
        (
            {"actions": [{"type": "send-slack-message", "webhook_url": "ftp://x", "text": "t"}]},
            "actions.0.webhook_url",
            "http(s) URL",
        ),
        ({"actions": [{"type": "launch-rocket"}]}, "actions.0", "launch-rocket"),
        (
            {
                "trigger": {"type": "interval", "every": 60},
                "actions": [{"type": "retry-flow-run"}],
            },
            "actions.0",
            "schedule",
        ),
        ({"debounce": 0}, "debounce", "positive"),
        ({"name": " spaced "}, "name", "spaces"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    change: dict[str, object], field: str, words: str
) -> None:
    found, message = _problem({**BASE, **change})
    assert found == field
    assert words in message


def test_a_template_error_never_quotes_a_secret() -> None:
    found, message = _problem(
        {
            **BASE,
            "actions": [{"type": "send-slack-message", "webhook_url": SLACK, "text": "{{ oops }"}],
        }
    )
    assert found == "actions.0.text"
    assert "secret-token" not in message
