"""One module per mixer family; importing this package registers every mixer by name."""

from .base import Mixer
from .combinators import RandomChoice
from .cut import CutMix, Cutout, ResizeMix
from .fourier import FMix
from .interpolation import MixUp, NoMix

__all__ = ["Mixer", "MixUp", "NoMix", "RandomChoice"]
__all__ += ["CutMix", "Cutout", "FMix", "ResizeMix"]
