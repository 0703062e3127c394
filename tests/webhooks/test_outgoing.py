"""Outgoing webhooks: SSRF refusals, signed delivery verified by our own inbound verifier,
redirects, timeouts, capped answers."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from proctor.automations.delivery import (
    DestinationPolicy,
    GuardedHttp,
    address_kind,
    check_destination,
)
from proctor.automations.outgoing import OutgoingWebhookSender
from proctor.automations.signing import generate_standard_secret
from proctor.core.errors import (
    ConfigurationError,
    DeliveryError,
    DestinationRefusedError,
    WebhookRejectedError,
)
from proctor.runtime.webhooks import WebhookPreset, verify_request
from tests.webhooks.conftest import ServerFactory
from tests.webhooks.fake_http import Reply

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LOCAL = DestinationPolicy(allow=("127.0.0.1/32",))


def _resolver(answers: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> Sequence[str]:
        return answers.get(host, [])

    return resolve


async def _send(sender: OutgoingWebhookSender, url: str, **kwargs):
    return await sender.send(SecretStr(url), message_id="msg_1", now=NOW, body={"a": 1}, **kwargs)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://[::1]:{port}/hook",
        "http://localhost:{port}/hook",
        "http://0.0.0.0:{port}/",
        "http://192.168.1.10/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[2002:7f00:1::1]/",
    ],
)
async def test_private_loopback_link_local_destinations_are_refused_by_default(
    http_server: ServerFactory, url: str
) -> None:
    receiver = await http_server()
    async with OutgoingWebhookSender() as sender:
        outcome = await _send(sender, url.format(port=receiver.port))
    assert (outcome.delivered, outcome.reason, outcome.retryable) == (
        False,
        "destination_refused",
        False,
    )
    assert outcome.attempts == 0
    assert receiver.received == []


async def test_a_name_is_refused_if_any_of_its_addresses_is_private() -> None:
    resolver = _resolver(
        {"mixed.example": ["93.184.216.34", "10.1.2.3"], "ok.example": ["93.184.216.34"]}
    )
    with pytest.raises(DestinationRefusedError, match=r"10\.1\.2\.3 \(private\)"):
        await check_destination("mixed.example", 80, DestinationPolicy(), resolver)
    address = await check_destination("ok.example", 80, DestinationPolicy(), resolver)
    assert address == ipaddress.ip_address("93.184.216.34")
    with pytest.raises(DeliveryError) as caught:
        await check_destination("nowhere.example", 80, DestinationPolicy(), resolver)
    assert caught.value.reason == "dns_error"
    assert caught.value.retryable


async def test_the_allowlist_admits_a_network_or_a_host_name() -> None:
    resolver = _resolver({"internal.corp": ["10.0.0.5"], "other.corp": ["10.0.0.6"]})
    by_name = DestinationPolicy(allow=("Internal.Corp",))
    assert str(await check_destination("internal.corp", 80, by_name, resolver)) == "10.0.0.5"
    with pytest.raises(DestinationRefusedError):
        await check_destination("other.corp", 80, by_name, resolver)
    by_network = DestinationPolicy(allow=("10.0.0.0/24",))
    assert str(await check_destination("other.corp", 80, by_network, resolver)) == "10.0.0.6"
    with pytest.raises(ValueError, match="neither a host name nor a CIDR"):
        DestinationPolicy(allow=("10.0.0.0/99",))


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("10.0.0.1", "private"),
        ("::1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-global"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


async def test_allowed_destination_gets_a_signed_request_our_verifier_accepts(
    http_server: ServerFactory,
) -> None:
    receiver = await http_server(Reply(200, b"thanks"))
    secret = SecretStr(generate_standard_secret())
    async with OutgoingWebhookSender(http=GuardedHttp(policy=LOCAL)) as sender:
        outcome = await sender.send(
            SecretStr(receiver.url("/hooks/in?token=abc")),
            message_id="firing-7:action-1",
            now=NOW,
            body={"flow_run": "brave-otter", "state": "Failed"},
            headers={"X-Source": "proctor"},
            secret=secret,
        )
    assert outcome.delivered
    assert outcome.status == 200
    assert outcome.attempts == 1
    request = await receiver.next_request()
    assert request.path == "/hooks/in?token=abc"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert request.headers["x-source"] == "proctor"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {"flow_run": "brave-otter", "state": "Failed"}
    verified = verify_request(
        WebhookPreset.STANDARD,
        secrets=[secret],
        headers=request.headers,
        body=request.body,
        now=NOW,
    )
    assert verified.delivery_id == "firing-7:action-1"
    tampered = request.body.replace(b"Failed", b"Completed")
    with pytest.raises(WebhookRejectedError, match="does not match"):
        verify_request(
            WebhookPreset.STANDARD,
            secrets=[secret],
            headers=request.headers,
            body=tampered,
            now=NOW,
        )


async def test_a_host_name_on_the_allowlist_connects_to_its_checked_address(
    http_server: ServerFactory,
) -> None:
    receiver = await http_server()
    http = GuardedHttp(policy=DestinationPolicy(allow=("localhost",)))
    async with OutgoingWebhookSender(http=http) as sender:
        outcome = await _send(sender, f"http://localhost:{receiver.port}/x")
    assert outcome.delivered
    assert (await receiver.next_request()).headers["host"] == f"localhost:{receiver.port}"


async def test_redirects_are_not_followed_by_default(http_server: ServerFactory) -> None:
    receiver = await http_server(Reply(307, b"", {"Location": "/elsewhere"}))
    async with OutgoingWebhookSender(http=GuardedHttp(policy=LOCAL)) as sender:
        outcome = await _send(sender, receiver.url("/hook"))
    assert (outcome.delivered, outcome.reason, outcome.retryable) == (
        False,
        "redirect_not_followed",
        False,
    )
    assert len(receiver.received) == 1


async def test_followed_redirects_are_rechecked_at_every_hop(http_server: ServerFactory) -> None:
    receiver = await http_server(
        Reply(307, b"", {"Location": "/second"}),
        Reply(200),
        Reply(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"}),
    )
    http = GuardedHttp(policy=LOCAL, max_redirects=3)
    async with OutgoingWebhookSender(http=http) as sender:
        followed = await _send(sender, receiver.url("/first"))
        refused = await _send(sender, receiver.url("/third"))
    assert followed.delivered
    assert [(r.method, r.path, r.body) for r in receiver.received[:2]] == [
        ("POST", "/first", b'{"a":1}'),
        ("POST", "/second", b'{"a":1}'),
    ]
    assert refused.reason == "destination_refused"
    assert not refused.delivered


async def test_a_receiver_that_never_answers_times_out_as_retryable(
    http_server: ServerFactory,
) -> None:
    receiver = await http_server(Reply(hang=True))
    async with OutgoingWebhookSender(http=GuardedHttp(policy=LOCAL, timeout_s=0.3)) as sender:
        outcome = await _send(sender, receiver.url("/slow"))
    assert (outcome.reason, outcome.retryable, outcome.delivered) == ("timeout", True, False)


async def test_the_answer_is_read_up_to_a_cap(http_server: ServerFactory) -> None:
    receiver = await http_server(Reply(200, b"z" * 1_000_000))
    async with GuardedHttp(policy=LOCAL, max_response_bytes=1024) as http:
        reply = await http.request("POST", receiver.url("/big"), headers={}, body=b"{}")
    assert (reply.status, len(reply.body), reply.truncated) == (200, 1024, True)


@pytest.mark.parametrize(
    ("reply", "reason", "retryable"),
    [
        (Reply(500, b"boom"), "http_500", True),
        (Reply(429, b"slow down", {"Retry-After": "30"}), "http_429", True),
        (Reply(400, b'{"error": "missing field"}'), "http_400", False),
        (Reply(404, b"no such hook"), "http_404", False),
    ],
)
async def test_receiver_answers_become_outcomes(
    http_server: ServerFactory, reply: Reply, reason: str, retryable: bool
) -> None:
    receiver = await http_server(reply)
    async with OutgoingWebhookSender(http=GuardedHttp(policy=LOCAL)) as sender:
        outcome = await _send(sender, receiver.url("/h"))
    assert (outcome.delivered, outcome.reason, outcome.retryable) == (False, reason, retryable)
    assert outcome.detail == reply.body.decode()
    assert outcome.retry_after_s == (30.0 if reply.status == 429 else None)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "not a url", "http://user:pa55word@example.com/x", "http:///nohost"],
)
async def test_bad_urls_are_refused_without_echoing_them(url: str) -> None:
    async with OutgoingWebhookSender() as sender:
        outcome = await _send(sender, url)
    assert (outcome.reason, outcome.attempts) == ("invalid_url", 0)
    assert "pa55word" not in (outcome.detail or "")


@pytest.mark.parametrize(
    ("headers", "secret"),
    [
        ({"Host": "evil"}, None),
        ({"webhook-signature": "v1,forged"}, SecretStr(generate_standard_secret())),
        ({"X-Bad": "a\r\nInjected: 1"}, None),
        ({"bad name": "x"}, None),
        ({}, SecretStr("not-a-whsec-secret")),
    ],
)
async def test_bad_headers_and_secrets_are_configuration_errors(
    headers: dict[str, str], secret: SecretStr | None
) -> None:
    async with OutgoingWebhookSender() as sender:
        with pytest.raises(ConfigurationError) as caught:
            await _send(sender, "https://example.com/h", headers=headers, secret=secret)
    assert "not-a-whsec-secret" not in str(caught.value)
