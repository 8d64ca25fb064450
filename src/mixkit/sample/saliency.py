"""Temporary alias of :mod:`mixkit.sample.functional.saliency_maps` (removed once every importer moved)."""
from .functional.saliency_maps import *  # noqa: F403
