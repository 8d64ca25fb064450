"""One module per mixer family; importing this package registers every mixer by name."""

from .base import Mixer
from .combinators import RandomChoice
from .cut import CutMix, Cutout, ResizeMix
from .fourier import FMix
from .grid import GridMix, SmoothMix
from .interpolation import MixUp, NoMix
from .learned import AdAutoMix, AutoMix, MixBlock
from .manifold import ManifoldMixup
from .puzzle import PuzzleMix
from .saliency import AttentiveMix, SaliencyMix

__all__ = ["Mixer", "MixUp", "NoMix", "RandomChoice"]
__all__ += ["CutMix", "Cutout", "FMix", "ResizeMix"]
__all__ += ["AttentiveMix", "GridMix", "ManifoldMixup", "PuzzleMix", "SaliencyMix", "SmoothMix"]
__all__ += ["AdAutoMix", "AutoMix", "MixBlock"]
