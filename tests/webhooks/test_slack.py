"""Slack: the alert's blocks, and the sender against a local fake Slack (paced, retrying,
never leaking the webhook URL)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from proctor.automations.delivery import DestinationPolicy, GuardedHttp, Pacer
from proctor.automations.slack import (
    FlowRunAlert,
    SlackMessage,
    SlackSender,
    flow_run_alert_message,
    render_message,
)
from proctor.automations.templating import compile_structure
from proctor.core.errors import DeliveryError, TemplateError
from tests.webhooks.conftest import FakeClock, ServerFactory
from tests.webhooks.fake_http import FakeHttpServer, Reply

SECRET_PATH = "/services/T0PROCTOR/B0SECRET/xoxsecretTOKEN123"
ALERT = FlowRunAlert(
    flow_name="etl",
    run_name="brave-otter",
    run_id="0191c3a8-0000-7000-8000-000000000001",
    state_name="Failed",
    state_type="FAILED",
    deployment_name="etl/nightly",
    message="ValueError: column 'amount' has <NaN> & more",
    log_lines=tuple(f"line {n}" for n in range(1, 31)),
    run_url="http://localhost:4200/runs/flow-run/0191c3a8",
)
LOCAL = DestinationPolicy(allow=("127.0.0.1/32",))


@pytest.fixture
async def sender(clock: FakeClock) -> AsyncIterator[SlackSender]:
    async with SlackSender(
        http=GuardedHttp(policy=LOCAL, timeout_s=5),
        pacer=Pacer(1.0, clock=clock, sleep=clock.sleep),
        max_attempts=4,
    ) as sender:
        yield sender


def _url(server: FakeHttpServer) -> SecretStr:
    return SecretStr(server.url(SECRET_PATH))


def test_the_alert_names_flow_run_deployment_state_error_logs_and_link() -> None:
    message = flow_run_alert_message(ALERT)
    header, fields, error, logs, actions, context = message.blocks
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": ":x: Flow run failed: etl"},
    }
    assert [f["text"] for f in fields["fields"]] == [
        "*Flow*\netl",
        "*Run*\n<http://localhost:4200/runs/flow-run/0191c3a8|brave-otter>",
        "*Deployment*\netl/nightly",
        "*State*\nFailed",
    ]
    assert error["text"]["text"] == (
        "*Error*\n```ValueError: column 'amount' has &lt;NaN&gt; &amp; more```"
    )
    assert logs["text"]["text"].endswith("line 29\nline 30```")
    assert actions["elements"][0]["url"] == ALERT.run_url
    assert ALERT.run_id in context["elements"][0]["text"]
    assert message.text == (
        "Flow run brave-otter of etl is Failed (deployment etl/nightly): ValueError: column "
        "'amount' has <NaN> & more http://localhost:4200/runs/flow-run/0191c3a8"
    )


def test_long_errors_and_logs_stay_within_slack_limits() -> None:
    alert = ALERT.model_copy(
        update={"message": "x" * 10_000, "log_lines": ("y" * 400,) * 100, "flow_name": "f" * 300}
    )
    message = flow_run_alert_message(alert)
    assert len(message.blocks[0]["text"]["text"]) <= 150
    for block in message.blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
    assert len(message.text) <= 3000


def test_a_crash_without_deployment_or_link_still_reads_well() -> None:
    alert = FlowRunAlert(flow_name="etl", run_name="r", run_id="1", state_name="Crashed",
                         state_type="CRASHED")  # fmt: skip
    message = flow_run_alert_message(alert)
    assert message.blocks[0]["text"]["text"] == ":boom: Flow run crashed: etl"
    assert "none (run directly)" in message.blocks[1]["fields"][2]["text"]
    assert [b["type"] for b in message.blocks] == ["header", "section", "context"]


def test_a_template_overrides_the_message() -> None:
    template = compile_structure(
        {
            "text": "{{ alert.flow_name }} {{ alert.state_name }}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "*{{ alert.run_name }}*"}}
            ],
        },
        field="message",
    )
    message = flow_run_alert_message(ALERT, template)
    assert message.text == "etl Failed"
    assert message.blocks == (
        {"type": "section", "text": {"type": "mrkdwn", "text": "*brave-otter*"}},
    )
    text_only = render_message(
        compile_structure("{{ event.event }}", field="text"), {"event": {"event": "a.b"}}
    )
    assert text_only == SlackMessage(text="a.b")
    with pytest.raises(TemplateError, match=r"^message\.blocks: "):
        render_message(compile_structure({"text": "t", "blocks": "{{ 1 }}"}, field="message"), {})


async def test_200_delivers_one_message_with_the_expected_blocks(
    sender: SlackSender, http_server: ServerFactory
) -> None:
    slack = await http_server(Reply(200, b"ok"))
    message = flow_run_alert_message(ALERT)
    outcome = await sender.send(_url(slack), message)
    assert outcome.delivered
    assert outcome.attempts == 1
    assert outcome.reason == "ok"
    request = await slack.next_request()
    assert request.method == "POST"
    assert request.path == SECRET_PATH
    assert request.headers["content-type"].startswith("application/json")
    assert json.loads(request.body) == {"text": message.text, "blocks": list(message.blocks)}
    assert len(slack.received) == 1


async def test_429_waits_retry_after_then_delivers_once(
    sender: SlackSender, http_server: ServerFactory, clock: FakeClock
) -> None:
    slack = await http_server(Reply(429, b"rate_limited", {"Retry-After": "7"}), Reply(200))
    outcome = await sender.send(_url(slack), SlackMessage(text="hi"))
    assert outcome.delivered
    assert outcome.attempts == 2
    assert [r.at for r in slack.received] == [0.0, 7.0]
    assert [r.body for r in slack.received] == [b'{"text": "hi"}'] * 2
    assert clock.sleeps == [7.0]


async def test_a_retry_after_beyond_the_limit_gives_up_as_retryable(
    sender: SlackSender, http_server: ServerFactory
) -> None:
    slack = await http_server(Reply(429, b"", {"Retry-After": "3600"}))
    outcome = await sender.send(_url(slack), SlackMessage(text="hi"))
    assert not outcome.delivered
    assert outcome.retryable
    assert (outcome.reason, outcome.retry_after_s, len(slack.received)) == ("rate_limited", 3600, 1)


@pytest.mark.parametrize(
    ("status", "word"),
    [
        (404, b"no_team"),
        (400, b"invalid_payload"),
        (403, b"invalid_token"),
        (410, b"channel_is_archived"),
    ],
)
async def test_client_errors_fail_once_with_slacks_reason_and_no_retry(
    sender: SlackSender, http_server: ServerFactory, status: int, word: bytes
) -> None:
    slack = await http_server(Reply(status, word))
    outcome = await sender.send(_url(slack), SlackMessage(text="hi"))
    assert not outcome.delivered
    assert not outcome.retryable
    assert (outcome.reason, outcome.status, outcome.attempts) == (word.decode(), status, 1)
    assert len(slack.received) == 1
    with pytest.raises(DeliveryError) as caught:
        outcome.raise_for_failure()
    assert caught.value.reason == word.decode()
    assert SECRET_PATH not in str(caught.value)


async def test_5xx_backs_off_exponentially_then_delivers(
    sender: SlackSender, http_server: ServerFactory, clock: FakeClock
) -> None:
    slack = await http_server(Reply(500, b"oops"), Reply(503, b"busy"), Reply(200))
    outcome = await sender.send(_url(slack), SlackMessage(text="hi"))
    assert outcome.delivered
    assert outcome.attempts == 3
    assert [r.at for r in slack.received] == [0.0, 1.0, 3.0]


async def test_5xx_forever_is_bounded_and_retryable(
    sender: SlackSender, http_server: ServerFactory
) -> None:
    slack = await http_server()
    slack.default = Reply(502, b"bad gateway")
    outcome = await sender.send(_url(slack), SlackMessage(text="hi"))
    assert not outcome.delivered
    assert outcome.retryable
    assert (outcome.attempts, len(slack.received), outcome.status) == (4, 4, 502)


async def test_messages_to_one_webhook_are_paced_and_keep_their_order(
    sender: SlackSender, http_server: ServerFactory
) -> None:
    slack = await http_server()
    other = await http_server()
    texts = [f"m{n}" for n in range(4)]
    outcomes = await asyncio.gather(
        *(sender.send(_url(slack), SlackMessage(text=t)) for t in texts),
        sender.send(_url(other), SlackMessage(text="elsewhere")),
    )
    assert all(o.delivered for o in outcomes)
    assert [json.loads(r.body)["text"] for r in slack.received] == texts
    times = [r.at or 0.0 for r in slack.received]
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times))
    assert other.received[0].at is not None
    assert other.received[0].at < 1.0


async def test_an_idempotency_key_delivers_once(
    sender: SlackSender, http_server: ServerFactory
) -> None:
    slack = await http_server()
    first, second = await asyncio.gather(
        sender.send(_url(slack), SlackMessage(text="hi"), idempotency_key="firing-1:action-0"),
        sender.send(_url(slack), SlackMessage(text="hi"), idempotency_key="firing-1:action-0"),
    )
    third = await sender.send(
        _url(slack), SlackMessage(text="hi"), idempotency_key="firing-1:action-0"
    )
    assert first.delivered
    assert second.delivered
    assert third.delivered
    assert (first.duplicate, second.duplicate, third.duplicate) == (False, True, True)
    assert len(slack.received) == 1


async def test_the_default_policy_refuses_a_loopback_slack_url(http_server: ServerFactory) -> None:
    slack = await http_server()
    async with SlackSender() as sender:
        outcome = await sender.send(_url(slack), SlackMessage(text="hi"))
    assert (outcome.reason, outcome.attempts, outcome.retryable) == (
        "destination_refused",
        0,
        False,
    )
    assert slack.received == []


async def test_the_webhook_url_never_appears_in_logs_outcomes_or_errors(
    sender: SlackSender, http_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    slack = await http_server(
        Reply(429, b"rate_limited", {"Retry-After": "1"}),
        Reply(500, b"error"),
        Reply(200),
        Reply(404, b"no_team"),
    )
    url = _url(slack)
    outcomes = [await sender.send(url, SlackMessage(text="hi")) for _ in range(2)]
    await slack.stop()
    outcomes.append(await sender.send(url, SlackMessage(text="hi")))  # connection refused
    assert [o.reason for o in outcomes] == ["ok", "no_team", "connect_error"]
    assert any("slack:" in record.getMessage() for record in caplog.records)
    texts = [record.getMessage() for record in caplog.records]
    texts += [repr(o) for o in outcomes] + [o.model_dump_json() for o in outcomes]
    for outcome in outcomes[1:]:
        with pytest.raises(DeliveryError) as caught:
            outcome.raise_for_failure()
        texts.append(str(caught.value))
    for text in texts:
        assert "B0SECRET" not in text, text
        assert "xoxsecretTOKEN123" not in text, text
    assert "xoxsecret" not in repr(url)
    assert "xoxsecret" not in str(url)


async def test_a_cancelled_send_hands_sharers_a_retryable_outcome(
    sender: SlackSender, http_server: ServerFactory
) -> None:
    slack = await http_server(Reply(hang=True))
    key = "firing-2:action-0"
    first = asyncio.create_task(
        sender.send(_url(slack), SlackMessage(text="hi"), idempotency_key=key)
    )
    await slack.next_request()  # the first send is now waiting on Slack
    second = asyncio.create_task(
        sender.send(_url(slack), SlackMessage(text="hi"), idempotency_key=key)
    )
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    shared = await second
    assert (shared.delivered, shared.reason, shared.retryable) == (False, "interrupted", True)
    assert len(slack.received) == 1
