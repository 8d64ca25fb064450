"""Temporary alias of :mod:`mixkit.sample.mixers.model_aware` (removed once every importer moved)."""
from .mixers.model_aware import ModelAwareMixer, StepOutput  # noqa: F401
