"""Load generator for the webhooks benchmark: signed GitHub deliveries over keep-alive HTTP/1.1.

Runs in a process of its own (``python webhook_load.py URL SLUG SECRET BODY ...``). Each of
``--connections`` connections sends one request at a time (closed loop) until ``--count``
requests were sent or ``--duration-s`` passed, after ``--warmup`` unmeasured ones. Every request
is a distinct delivery (its own ``X-GitHub-Delivery``) of the same signed body. HTTP is
written by hand on asyncio streams so that the generator costs little CPU next to the server.
Prints ``BENCH-RESULT {json}``: statuses, elapsed seconds and every latency in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PREFIX = "BENCH-RESULT "


@dataclass
class Plan:
    host: str
    port: int
    path: str
    body: bytes
    signature: str
    run: str
    count: int
    deadline: float = 0.0
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    def head(self, index: int) -> bytes:
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(self.body)}\r\n"
            f"X-GitHub-Event: push\r\nX-GitHub-Delivery: {self.run}-{index}\r\n"
            f"X-Hub-Signature-256: sha256={self.signature}\r\n\r\n"
        ).encode()

    def take(self) -> int | None:
        if self.sent >= self.count or time.perf_counter() >= self.deadline:
            return None
        self.sent += 1
        return self.sent


async def _connection(plan: Plan, measured: bool) -> None:
    reader, writer = await asyncio.open_connection(plan.host, plan.port)
    try:
        while (index := plan.take()) is not None:
            started = time.perf_counter()
            writer.write(plan.head(index))
            writer.write(plan.body)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if measured:
                plan.latencies_ms.append((time.perf_counter() - started) * 1000)
                plan.statuses[status] += 1
    finally:
        writer.close()


async def _phase(plan: Plan, connections: int, count: int, seconds: float, measured: bool) -> float:
    plan.count, plan.sent = count, 0
    started = time.perf_counter()
    plan.deadline = started + seconds
    await asyncio.gather(*(_connection(plan, measured) for _ in range(connections)))
    return time.perf_counter() - started


async def main(args: argparse.Namespace) -> dict[str, object]:
    parts = urlsplit(args.url)
    body = Path(args.body).read_bytes()  # noqa: ASYNC240 (once, before the clock starts)
    signature = hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
    plan = Plan(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 80,
        path=f"/hooks/{args.slug}",
        body=body,
        signature=signature,
        run=uuid.uuid4().hex[:12],
        count=0,
    )
    await _phase(plan, args.connections, args.warmup, args.duration_s, measured=False)
    plan.run = uuid.uuid4().hex[:12]  # measured deliveries: fresh ids
    cpu = time.process_time()
    elapsed = await _phase(plan, args.connections, args.count, args.duration_s, measured=True)
    return {
        "elapsed_s": elapsed,
        "cpu_s": time.process_time() - cpu,
        "statuses": {str(k): v for k, v in plan.statuses.items()},
        "latencies_ms": plan.latencies_ms,
        "warmup": args.warmup,
        "connections": args.connections,
        "body_bytes": len(body),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("slug")
    parser.add_argument("secret")
    parser.add_argument("body")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--duration-s", type=float, default=20.0)
    result = asyncio.run(main(parser.parse_args()))
    print(PREFIX + json.dumps(result), flush=True)
