"""Public kernels of the sample mixers, usable on their own (as ``torchvision.transforms.functional``).

Every function takes explicit tensors and, where it is random, an explicit ``torch.Generator``; none keeps
state between calls.

* boxes: :class:`Boxes`, :func:`sample_boxes`, :func:`place_boxes`, :func:`place_patches`,
  :func:`shared_region`, :func:`region_fraction`, :func:`box_weight`, :func:`mix_shared_box`.
* resize and paste (ResizeMix): :func:`resize_nearest`, :func:`nearest_source`,
  :func:`paste_resized_shared`, :func:`paste_resized_patches`.
* Fourier masks (FMix): :func:`fourier_noise`, :func:`band_limited_noise`, :func:`spectrum_scale`,
  :func:`spectrum_band`, :func:`top_k_weight`, :func:`top_k_weight_histogram`, :data:`BAND_TOLERANCE`.
* grid cells: :func:`cell_index`, :func:`cells_to_pixels`.
* saliency maps: :func:`spectral_residual`, :func:`gradient_saliency`, :func:`gaussian_blur`,
  :func:`peak_location`.
* graph cuts (PuzzleMix; needs ``pymaxflow``): :func:`grid_energy`, :func:`solve_binary_grids`,
  :func:`swap_grids`.
* partners chosen from the data (C-Mixup, RegMix): :func:`kernel_partners`, :func:`window_kernel_partners`,
  :func:`knn_partners`.
"""

from .boxes import (
    Boxes,
    box_weight,
    mix_shared_box,
    place_boxes,
    place_patches,
    region_fraction,
    sample_boxes,
    shared_region,
)
from .fourier_noise import (
    BAND_TOLERANCE,
    band_limited_noise,
    fourier_noise,
    spectrum_band,
    spectrum_scale,
    top_k_weight,
    top_k_weight_histogram,
)
from .graph_cut import grid_energy, solve_binary_grids, swap_grids
from .grid_cells import cell_index, cells_to_pixels
from .partners import dataset_kernel_partners, kernel_partners, knn_partners, window_kernel_partners
from .resize_paste import nearest_source, paste_resized_patches, paste_resized_shared, resize_nearest
from .saliency_maps import (
    fine_grained_saliency,
    gaussian_blur,
    gradient_saliency,
    peak_location,
    spectral_residual,
)

__all__ = [
    "dataset_kernel_partners",
    "fine_grained_saliency",
    "BAND_TOLERANCE",
    "Boxes",
    "band_limited_noise",
    "box_weight",
    "cell_index",
    "cells_to_pixels",
    "fourier_noise",
    "gaussian_blur",
    "gradient_saliency",
    "grid_energy",
    "kernel_partners",
    "knn_partners",
    "mix_shared_box",
    "nearest_source",
    "paste_resized_patches",
    "paste_resized_shared",
    "peak_location",
    "place_boxes",
    "place_patches",
    "region_fraction",
    "resize_nearest",
    "sample_boxes",
    "shared_region",
    "solve_binary_grids",
    "spectral_residual",
    "spectrum_band",
    "spectrum_scale",
    "swap_grids",
    "top_k_weight",
    "top_k_weight_histogram",
    "window_kernel_partners",
]
