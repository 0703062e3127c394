"""Trigger evaluation: the name index, the pure window/combine steps, and the evaluator."""

from proctor.triggers.evaluation.cache import MAX_ATTEMPTS
from proctor.triggers.evaluation.evaluator import DEFAULT_RETENTION, Tick, TriggerEvaluator
from proctor.triggers.evaluation.index import NameIndex

__all__ = ("DEFAULT_RETENTION", "MAX_ATTEMPTS", "NameIndex", "Tick", "TriggerEvaluator")
