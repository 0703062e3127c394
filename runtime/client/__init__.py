"""The Python client of the Proctor API (``proctor.client``): async first, with a sync twin.

``async with get_client() as client: await client.flow_runs.list()``. Each area of the API is a
sub-client in its own module (``flow_runs``, ``events``, ``deployments``...).
"""

from proctor.runtime.client.base import ApiTransport, resolve_api_url
from proctor.runtime.client.client import ProctorClient, SyncProctorClient, get_client

__all__ = ("ApiTransport", "ProctorClient", "SyncProctorClient", "get_client", "resolve_api_url")
