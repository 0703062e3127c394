"""Slack messages: the Block Kit alert for a flow run that went wrong, and templated ones.

Slack's limits are applied here (header 150 characters, section text 3,000, 50 blocks) so a
long error or log never makes Slack refuse the whole message with ``invalid_blocks``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proctor.automations.templating import TemplateStructure
from proctor.core.errors import TemplateError

__all__ = (
    "MAX_BLOCKS",
    "FlowRunAlert",
    "SlackMessage",
    "escape_mrkdwn",
    "flow_run_alert_message",
    "render_message",
)

MAX_BLOCKS: Final = 50
_MAX_HEADER: Final = 150
_MAX_SECTION: Final = 3000
_MAX_FIELD: Final = 2000
_MAX_FALLBACK: Final = 3000
_MAX_LOG_LINE: Final = 500
_EMOJI: Final = {"FAILED": ":x:", "CRASHED": ":boom:", "CANCELLED": ":no_entry_sign:"}


class SlackMessage(BaseModel):
    """What is posted to an incoming webhook: a plain-text fallback and Block Kit blocks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=40_000,
        description="Fallback for notifications and screen readers.",
    )
    blocks: tuple[dict[str, Any], ...] = Field(
        default=(), max_length=MAX_BLOCKS, description="Block Kit blocks."
    )

    def to_json(self) -> dict[str, Any]:
        """The request body Slack expects."""
        body: dict[str, Any] = {"text": self.text}
        if self.blocks:
            body["blocks"] = list(self.blocks)
        return body


class FlowRunAlert(BaseModel):
    """What a run alert says. The caller fills it from the state-change event and the logs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    flow_name: str
    run_name: str
    run_id: str
    state_name: str = Field(description="Failed, Crashed, TimedOut...")
    state_type: str = Field(default="FAILED", description="FAILED, CRASHED, CANCELLED...")
    deployment_name: str | None = None
    message: str | None = Field(default=None, description="The state's message: the error.")
    log_lines: tuple[str, ...] = Field(default=(), description="The run's last log lines.")
    run_url: str | None = Field(default=None, description="The run's page in the UI.")


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(text: str, limit: int) -> str:
    body = escape_mrkdwn(text).replace("```", "`\u200b``")
    return f"```{_clip(body, limit - 6)}```"


def _link(url: str, label: str) -> str:
    safe = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe}|{escape_mrkdwn(label)}>"


def _last_lines(lines: tuple[str, ...], budget: int) -> str:
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        line = _clip(line.rstrip(), _MAX_LOG_LINE)
        if size + len(line) + 1 > budget:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(reversed(kept))


def flow_run_alert_message(
    alert: FlowRunAlert,
    template: TemplateStructure | None = None,
    context: Mapping[str, Any] | None = None,
) -> SlackMessage:
    """The Block Kit message for a flow run in a bad state, with a plain-text fallback.

    With a ``template``, that template is rendered instead, with ``context`` plus ``alert``
    (this alert's fields) in scope.
    """
    if template is not None:
        return render_message(template, {**(context or {}), "alert": alert.model_dump()})
    emoji = _EMOJI.get(alert.state_type.upper(), ":warning:")
    title = f"{emoji} Flow run {alert.state_name.lower()}: {alert.flow_name}"
    run = _link(alert.run_url, alert.run_name) if alert.run_url else escape_mrkdwn(alert.run_name)
    fields = [
        ("Flow", escape_mrkdwn(alert.flow_name)),
        ("Run", run),
        ("Deployment", escape_mrkdwn(alert.deployment_name or "none (run directly)")),
        ("State", escape_mrkdwn(alert.state_name)),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, _MAX_HEADER)}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _clip(f"*{name}*\n{value}", _MAX_FIELD)}
                for name, value in fields
            ],
        },
    ]
    if alert.message:
        text = "*Error*\n" + _code(alert.message, _MAX_SECTION - 10)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    logs = _last_lines(alert.log_lines, _MAX_SECTION - 40)
    if logs:
        text = "*Last log lines*\n" + _code(logs, _MAX_SECTION - 20)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if alert.run_url:
        button = {"type": "plain_text", "text": "View run"}
        element = {"type": "button", "text": button, "url": alert.run_url[:3000]}
        blocks.append({"type": "actions", "elements": [element]})
    run_id = f"Run id `{escape_mrkdwn(alert.run_id)}`"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": run_id}]})
    fallback = f"Flow run {alert.run_name} of {alert.flow_name} is {alert.state_name}"
    if alert.deployment_name:
        fallback += f" (deployment {alert.deployment_name})"
    if alert.message:
        fallback += f": {alert.message}"
    if alert.run_url:
        fallback += f" {alert.run_url}"
    return SlackMessage(text=_clip(fallback, _MAX_FALLBACK), blocks=tuple(blocks))


def render_message(template: TemplateStructure, context: Mapping[str, Any]) -> SlackMessage:
    """Render a message template: a string (text only) or ``{"text": ..., "blocks": [...]}``.

    Raises ``TemplateError`` naming the template's field if it renders to something else.
    """
    rendered = template.render(context)
    if isinstance(rendered, str):
        rendered = {"text": rendered}
    if not isinstance(rendered, Mapping):
        raise TemplateError(
            f"{template.field}: rendered to {type(rendered).__name__}; a Slack message is a "
            "string or an object with 'text' and 'blocks'",
            field=template.field,
        )
    try:
        return SlackMessage.model_validate(rendered)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise TemplateError(
            f"{template.field}.{where}: {first['msg']}", field=f"{template.field}.{where}"
        ) from None
