"""Log-mel front ends: pure functions (:mod:`.functional`), modules (:mod:`.modules`) and named
configurations (:mod:`.config`).

>>> import torch
>>> from audiolib.features import vggish_examples, log_mel, get_config
>>> vggish_examples(torch.zeros(2, 16000 * 10), 16000).shape
torch.Size([2, 10, 96, 64])
>>> log_mel(torch.zeros(22050 * 4), 22050, get_config("c19_r3")).shape
torch.Size([345, 128])
"""

from .config import PRESETS, LogMelConfig, get_config
from .functional import (
    frame_patches,
    hz_to_mel,
    log_mel,
    log_mel_patches,
    mel_filterbank,
    mel_to_hz,
    min_max_normalize,
    periodic_hann,
    stft_magnitude,
    vggish_examples,
)
from .modules import LogMel, LogMelPatches, VGGishFrontEnd

__all__ = [
    "PRESETS",
    "LogMel",
    "LogMelConfig",
    "LogMelPatches",
    "VGGishFrontEnd",
    "frame_patches",
    "get_config",
    "hz_to_mel",
    "log_mel",
    "log_mel_patches",
    "mel_filterbank",
    "mel_to_hz",
    "min_max_normalize",
    "periodic_hann",
    "stft_magnitude",
    "vggish_examples",
]
