"""The HTTP API (FastAPI): queries over the store, live event streams, and commands."""
