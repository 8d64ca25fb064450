"""Temporary alias of :mod:`mixkit.sample.functional.graph_cut` (removed once every importer moved)."""
from .functional.graph_cut import *  # noqa: F403
