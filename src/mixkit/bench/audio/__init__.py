"""A small real audio task for the benchmark: spoken-language identification from Debian's voice prompts.

* :mod:`.voice_prompts`: :func:`load_voice_prompts` (``--data-dir``, WAV files per language folder);
* :mod:`.features`: log-mel spectrograms with torch only;
* :mod:`.model`: :class:`SpectrogramCNN`;
* :mod:`.study`: :func:`language_id_study`, accuracy of a small CNN trained with each audio mixing method;
  ``python -m mixkit.bench.audio --data-dir DIR`` runs it.
"""

from .features import frame_lengths, log_mel, mel_filterbank
from .model import SpectrogramCNN
from .study import AUDIO_METHODS, language_id_study
from .voice_prompts import DEFAULT_DIR, AudioDataset, load_voice_prompts, read_wav

__all__ = ["AUDIO_METHODS", "DEFAULT_DIR", "AudioDataset", "SpectrogramCNN", "frame_lengths",
           "language_id_study", "load_voice_prompts", "log_mel", "mel_filterbank", "read_wav"]
