"""``python -m bench [NAME ...] [--json PATH]``: run benchmarks and print their tables.

With no name, every benchmark runs; ``--list`` names them. Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from bench.harness import Options, Result, machine

# name -> module with TITLE and run(options) -> Result; later benchmarks add one line each.
BENCHMARKS = {
    "events": "bench.events",
    "flows": "bench.flows",
    "runtime": "bench.runtime",
    "webhooks": "bench.webhooks",
    "automations": "bench.automations",
    "server": "bench.server",
}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (all if none)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported")
    parser.add_argument("--quick", action="store_true", help="small loops, for a smoke test")
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="don't create the Prefect virtualenv; skip Prefect columns if it is missing",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.list:
        for name, module in BENCHMARKS.items():
            print(f"{name:12} {importlib.import_module(module).TITLE}")
        return 0
    options = Options(runs=args.runs, quick=args.quick, install_prefect=not args.no_install)
    results: list[Result] = []
    where = machine()
    print(
        f"Python {where['python']}, {where['cpus']} CPUs, load average "
        f"{where['load_average_1min']:.2f} at start (a busy machine makes figures noisy)\n"
    )
    for name in args.names or list(BENCHMARKS):
        result: Result = importlib.import_module(BENCHMARKS[name]).run(options)
        print(result.render(), end="\n\n", flush=True)
        results.append(result)
    if args.json is not None:
        record: dict[str, Any] = {
            "machine": where,
            "options": {"runs": options.runs, "quick": options.quick},
            "benchmarks": {r.name: r.to_json() for r in results},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
