"""Temporary alias of :mod:`mixkit.sample.mixers.mixer` (removed once every importer moved)."""
from ..checks import check_out  # noqa: F401
from ..pairing import weight_view  # noqa: F401
from .mixer import Mixer, MixParams  # noqa: F401
