"""Temporary alias (removed once every importer moved)."""
from .cutmix import CutMix  # noqa: F401
from .cutout import Cutout  # noqa: F401
from .resizemix import ResizeMix  # noqa: F401
