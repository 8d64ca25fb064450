"""One module per mixer family; importing this package registers every mixer by name."""

from .attention import (
    AttentionCapture,
    SMMix,
    TransMix,
    max_min_regions,
    paste_patches,
    patch_fraction,
    transmix_lam,
)
from .base import Mixer
from .calibration import RankMixup
from .combinators import RandomChoice
from .cut import CutMix, Cutout, ResizeMix
from .fourier import FMix
from .grid import GridMix, SmoothMix
from .incremental import AdpMix, EnMix
from .interpolation import MixUp, NoMix
from .learned import AdAutoMix, AutoMix, MixBlock
from .manifold import ManifoldMixup
from .outlier import MixOE, MixOEBatch
from .pointcloud import Mix3D, PointMixBatch
from .puzzle import PuzzleMix
from .regression import CMixup, RegMixKNN, kernel_partners, knn_partners, select_knn_k, window_kernel_partners
from .saliency import AttentiveMix, SaliencyMix
from .schedule import MixSchedule
from .sequence import SeqCutMix, SeqMixUp

__all__ = ["Mixer", "MixUp", "NoMix", "RandomChoice"]
__all__ += ["CutMix", "Cutout", "FMix", "ResizeMix"]
__all__ += ["AdpMix", "CMixup", "EnMix", "Mix3D", "MixOE", "MixOEBatch", "MixSchedule", "PointMixBatch",
            "RankMixup", "RegMixKNN", "SeqCutMix", "SeqMixUp", "kernel_partners", "knn_partners",
            "select_knn_k", "SMMix", "TransMix", "max_min_regions", "paste_patches", "patch_fraction",
            "transmix_lam", "AttentionCapture", "window_kernel_partners"]
__all__ += ["AttentiveMix", "GridMix", "ManifoldMixup", "PuzzleMix", "SaliencyMix", "SmoothMix"]
__all__ += ["AdAutoMix", "AutoMix", "MixBlock"]
