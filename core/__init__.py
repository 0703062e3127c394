"""Proctor's lowest layer: settings, the exception tree, and the clock.

Every other part of Proctor may import from here; this package imports nothing of Proctor's.
"""
