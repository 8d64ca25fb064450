"""One module per mixer family; importing this package registers every mixer by name."""

from .base import Mixer
from .combinators import RandomChoice
from .interpolation import MixUp, NoMix
from .cut import CutMix, Cutout, ResizeMix
from .fourier import FMix

__all__ = ["Mixer", "MixUp", "NoMix", "RandomChoice"]
__all__ += ["CutMix", "Cutout", "FMix", "ResizeMix"]
