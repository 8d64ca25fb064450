"""One module per mixing method; importing this package registers every mixer by its ``name``."""

from .adamixup import AdaMixup, AdaMixupParams, PolicyRegionGenerator, truncated_normal
from .adautomix import AdaptiveMaskBlock, AdAutoMix, AdAutoMixParams, GradientReversal, multi_source_loss
from .attention_capture import AttentionCapture
from .attentivemix import AttentiveMix
from .audio_mix import SpecCutMix, SpecCutMixParams
from .automix import AutoMix, MixBlock, mask_features
from .beat_sync_mix import BeatSyncMixup
from .cmixup import CMixup
from .colorful_cutout import ColorfulCutout, ColorfulCutoutParams, colorful_cells
from .cutmix import BoxParams, CutMix
from .cutout import Cutout, CutoutParams
from .dualmix import AdpMix, EnMix
from .fmix import FMix, FourierParams
from .gridmix import GridMix, GridParams
from .manifold_mixup import ManifoldMixup, mix_hidden
from .mix3d import Mix3D, PointMixBatch
from .mixer import Mixer, MixParams
from .mixing_window import MixUntil
from .mixoe import MixOE, MixOEBatch
from .mixup import MixUp, NoMix
from .model_aware import ModelAwareMixer, StepOutput
from .puzzlemix import PuzzleMix, block_saliency, greedy_transport, release_transport
from .random_choice import RandomChoice
from .rankmixup import RankMixup
from .regmix_knn import RegMixKNN, select_knn_k
from .resizemix import ResizeMix, ResizeParams
from .saliencymix import SaliencyMix
from .seqmix import SeqCutMix, SeqMixUp
from .smmix import SMMix, max_min_regions, paste_patches
from .smoothmix import SmoothMix, SmoothParams
from .transmix import TransMix, patch_fraction, transmix_lam

__all__ = [
    "AdaMixup",
    "AdaMixupParams",
    "PolicyRegionGenerator",
    "truncated_normal",
    "AdAutoMix",
    "AdAutoMixParams",
    "AdaptiveMaskBlock",
    "mask_features",
    "multi_source_loss",
    "release_transport",
    "AdpMix",
    "AttentionCapture",
    "AttentiveMix",
    "AutoMix",
    "BeatSyncMixup",
    "BoxParams",
    "CMixup",
    "ColorfulCutout",
    "ColorfulCutoutParams",
    "CutMix",
    "Cutout",
    "CutoutParams",
    "EnMix",
    "FMix",
    "FourierParams",
    "GradientReversal",
    "GridMix",
    "GridParams",
    "ManifoldMixup",
    "Mix3D",
    "MixBlock",
    "MixOE",
    "MixOEBatch",
    "MixParams",
    "MixUntil",
    "MixUp",
    "Mixer",
    "ModelAwareMixer",
    "NoMix",
    "PointMixBatch",
    "PuzzleMix",
    "RandomChoice",
    "RankMixup",
    "RegMixKNN",
    "ResizeMix",
    "ResizeParams",
    "SMMix",
    "SaliencyMix",
    "SeqCutMix",
    "SeqMixUp",
    "SmoothMix",
    "SpecCutMix",
    "SpecCutMixParams",
    "SmoothParams",
    "StepOutput",
    "TransMix",
    "block_saliency",
    "colorful_cells",
    "greedy_transport",
    "max_min_regions",
    "mix_hidden",
    "paste_patches",
    "patch_fraction",
    "select_knn_k",
    "transmix_lam",
]
