"""The runtime: the flow engine, the server processes and the workers."""
