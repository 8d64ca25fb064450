"""Temporary alias (removed once every importer moved)."""
from ..checks import check_int_range as _parse_range  # noqa: F401
from ..functional.grid_cells import cell_index, cells_to_pixels  # noqa: F401
from .gridmix import GridMix  # noqa: F401
from .smoothmix import SmoothMix  # noqa: F401
