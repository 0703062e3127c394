"""Slack: Block Kit messages for run alerts, and a paced, retrying incoming-webhook sender."""

from proctor.automations.slack.message import (
    MAX_BLOCKS,
    FlowRunAlert,
    SlackMessage,
    escape_mrkdwn,
    flow_run_alert_message,
    render_message,
)
from proctor.automations.slack.sender import SlackSender, fingerprint

__all__ = (
    "MAX_BLOCKS",
    "FlowRunAlert",
    "SlackMessage",
    "SlackSender",
    "escape_mrkdwn",
    "fingerprint",
    "flow_run_alert_message",
    "render_message",
)
