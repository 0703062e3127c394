"""Fixtures the examples' tests share with the rest of the suite (imported, not copied): a flow
publisher on the test nats-server, and the automation engine harness on a manual clock."""

from tests.automations.conftest import js_harness
from tests.flows.conftest import jetstream_publisher

__all__ = ("jetstream_publisher", "js_harness")
