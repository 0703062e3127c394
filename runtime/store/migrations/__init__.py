"""Alembic migrations of the store, shipped in the package and run on start-up.

To add one after changing the tables (``tables.py``, ``control.py``)::

    python -m proctor.runtime.store.migrate revision "what changed"
"""
