"""``nn.Module`` wrappers of the front ends: they hold the config and the window/filterbank as
buffers (moved by ``.to(device)``) and call :mod:`audiolib.features.functional`.

>>> import torch
>>> from audiolib.features import LogMel, VGGishFrontEnd
>>> LogMel("t19_cnn")(torch.zeros(2, 10 * 44100)).shape
torch.Size([2, 862, 128])
>>> VGGishFrontEnd()(torch.zeros(16000 * 3), 16000).shape
torch.Size([3, 96, 64])
"""

from __future__ import annotations

from torch import Tensor, nn

from . import functional as F
from .config import LogMelConfig, PRESETS, get_config


class LogMel(nn.Module):
    """Log-mel front end ``[..., time] -> [..., frames, n_mels]`` for one :class:`LogMelConfig`.

    Args:
        config: a :class:`LogMelConfig`, a preset name, or ``None`` for ``"vggish"``.

    Buffers (not saved in ``state_dict``; rebuilt from the config): ``window [win_length]`` and
    ``filterbank [hi - lo, n_mels]``, the non-zero rows ``lo:hi`` of the mel filterbank.
    ``forward(waveform, sample_rate=None)`` resamples from ``sample_rate`` (default: the
    config's rate) and returns the result on the module's buffers' device for inputs there.
    """

    def __init__(self, config: LogMelConfig | str | None = None) -> None:
        super().__init__()
        self.config = get_config(config)
        parts = F.build_parts(self.config)
        self.register_buffer("window", parts.window, persistent=False)
        self.register_buffer("filterbank", parts.filterbank, persistent=False)
        self.band = (parts.lo, parts.hi)

    def _parts(self, waveform: Tensor) -> F._Parts:
        if waveform.device != self.window.device:
            raise ValueError(f"waveform is on {waveform.device} but {type(self).__name__} is on "
                             f"{self.window.device}; move one of them (module.to(device))")
        return F._Parts(self.window, self.filterbank, *self.band)

    def forward(self, waveform: Tensor, sample_rate: int | None = None) -> Tensor:
        waveform = F._as_waveform(waveform)
        sample_rate = self.config.sample_rate if sample_rate is None else sample_rate
        waveform = F._resample(waveform, sample_rate, self.config)
        return F._log_mel(waveform, self.config, self._parts(waveform))

    def extra_repr(self) -> str:
        return repr(self.config)


class LogMelPatches(LogMel):
    """:class:`LogMel` followed by :func:`~audiolib.features.frame_patches` with the config's
    ``patch_frames`` / ``patch_hop``: ``[..., time] -> [..., n, patch_frames, n_mels]``."""

    def forward(self, waveform: Tensor, sample_rate: int | None = None) -> Tensor:
        spec = super().forward(waveform, sample_rate)
        return F.frame_patches(spec, self.config.patch_frames, self.config.patch_step)


class VGGishFrontEnd(LogMelPatches):
    """The published VGGish input as a module: ``[..., time] -> [..., n, 96, 64]``.

    Same numbers as :func:`~audiolib.features.vggish_examples`; ``forward(waveform,
    sample_rate=16000)``.
    """

    def __init__(self) -> None:
        super().__init__(PRESETS["vggish"])
