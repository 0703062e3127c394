"""Scripts the flow benchmarks run in a fresh interpreter (Proctor's, or Prefect's own venv).

Each prints one line ``BENCH-RESULT <json>`` on stdout. They import nothing from ``bench``:
the Prefect one runs in another virtualenv.
"""
