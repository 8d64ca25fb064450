"""Temporary alias of :mod:`mixkit.sample.functional` (removed once every importer moved)."""
from .functional.boxes import *  # noqa: F403
from .functional.boxes import _uniform_ints  # noqa: F401
from .functional.fourier_noise import *  # noqa: F403
from .functional.fourier_noise import _band_bases  # noqa: F401
from .functional.fourier_noise import spectrum_band as _band  # noqa: F401
from .functional.resize_paste import *  # noqa: F403
from .functional.resize_paste import _paste_resized_grid, _paste_resized_one_grid, _scratch  # noqa: F401
