"""Temporary alias (removed once every importer moved)."""
from .mixup import MixUp, NoMix  # noqa: F401
