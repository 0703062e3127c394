"""The flow the runtime benchmark deploys: it records when its first line ran."""

from __future__ import annotations

import time

from proctor import flow


@flow
def first_line(path: str, label: str) -> None:
    started = time.time()  # the flow's first line
    with open(path, "a") as ledger:
        ledger.write(f"{label} {started}\n")
