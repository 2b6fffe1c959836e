"""``LogMelConfig``: every parameter of a log-mel front end in one frozen, hashable dataclass.

Named presets reproduce the front ends of the works in this workbook (see ``PRESETS``):

========== ====================================================================================
name       front end
========== ====================================================================================
vggish     Hershey et al. 2017 / the published VGGish input: 16 kHz, 25 ms periodic-Hann window
           in a 512-point FFT, 10 ms hop, no centring, |STFT| (magnitude), 64 HTK-mel bands
           125-7500 Hz with triangles linear in mel, ``log(mel + 0.01)``, 96-frame patches.
h17        the same as ``vggish`` (the H17 experiments use exactly this front end).
yamnet     the input of YAMNet (``tensorflow/models`` ``research/audioset/yamnet``, ``params.py``):
           the ``vggish`` front end with ``log(mel + 0.001)`` and 96-frame patches every 48
           frames (0.96 s patches, 0.48 s hop, as the release's frame embeddings).
t19_cnn    Tompkins & Nichols, DCASE 2019 Task 5 ("CNN+VGGish"), the log-mel CNN branch:
           44.1 kHz, 2048-point FFT and window, hop 512, 128 mel bands, centred frames, so a
           10 s clip gives 1 + 441000 // 512 = 862 frames. The report does not spell out the
           mel and dB details; we take librosa's defaults of the time (what their pipeline was
           built on): power spectrogram, Slaney mel scale and area normalisation, 0 to 22050 Hz,
           reflect padding, ``power_to_db`` with ``ref=1``, ``amin=1e-10``, ``top_db=80``.
c19_r3     Colangelo et al. 2019, full resolution (128 x 300): 22.05 kHz, 1024-point FFT and
           window, hop 256, 128 Slaney mel bands, dB, per-example min-max scaling to [0, 1];
           ``patch_frames=300`` is the time crop.
c19_r2_mel C19's intermediate stage by fewer mel filters: 96 bands, 214-frame crop.
c19_r1_mel C19's first stage by fewer mel filters: 64 bands, 128-frame crop.
========== ====================================================================================

>>> from audiolib.features import get_config
>>> cfg = get_config("vggish")
>>> (cfg.sample_rate, cfg.n_fft, cfg.win_length, cfg.hop_length, cfg.n_mels)
(16000, 512, 400, 160, 64)
>>> cfg.with_(n_mels=128).n_mels
128
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

MEL_SCALES = ("htk", "slaney")
MEL_NORMS = (None, "slaney")
MEL_TRIANGLES = (None, "mel", "hz")
LOG_MODES = ("log_offset", "db", "none")
WINDOWS = ("hann_periodic", "hann_symmetric")
PAD_MODES = ("reflect", "constant")
NORMALIZATIONS = (None, "minmax")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"LogMelConfig.{name} must be a positive int, got {value!r}")


def _check_choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"LogMelConfig.{name} must be one of {list(allowed)}, got {value!r}")


def _check_finite_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"LogMelConfig.{name} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class LogMelConfig:
    """Parameters of a log-mel front end; the defaults are the VGGish front end.

    Attributes:
        sample_rate: rate (Hz) the waveform is resampled to before analysis.
        n_fft: FFT length; each frame gives ``n_fft // 2 + 1`` frequency bins.
        win_length: analysis window length in samples (``<= n_fft``; zero-padded to ``n_fft``).
        hop_length: samples between successive frames.
        n_mels: number of mel bands.
        f_min, f_max: band edges in Hz (``0 <= f_min < f_max <= sample_rate / 2``).
        power: exponent of the STFT magnitude: 1 magnitude (VGGish), 2 power (librosa default).
        mel_scale: ``"htk"`` (``1127 ln(1 + f / 700)``) or ``"slaney"`` (linear below 1 kHz,
            logarithmic above, as librosa's default).
        mel_norm: ``None`` (peak 1 triangles) or ``"slaney"`` (each triangle divided by half its
            width in Hz, constant energy per band, as librosa's ``norm="slaney"``).
        mel_triangles: ``"mel"`` triangles linear in mel, evaluated on the mel value of each FFT
            bin, DC bin zeroed (VGGish's ``spectrogram_to_mel_matrix``); ``"hz"`` triangles
            linear in Hz between mel-spaced edges (librosa, torchaudio); ``None`` picks
            ``"mel"`` for the HTK scale and ``"hz"`` for the Slaney scale.
        log: ``"log_offset"`` ``log(mel + log_offset)``; ``"db"`` decibels of power
            (``10 log10`` of power, i.e. ``(20 / power) log10`` of what the mel holds,
            floored at ``amin`` in power units, then clipped ``top_db`` below the example's
            maximum when ``top_db`` is set); ``"none"`` the linear mel spectrogram.
        log_offset: added before the natural log when ``log="log_offset"`` (VGGish: 0.01).
        amin: power floor of the dB conversion (librosa: 1e-10).
        top_db: dynamic range kept by the dB conversion, per example; ``None`` keeps all.
        center: pad ``n_fft // 2`` samples on both sides and centre the window in each
            ``n_fft`` frame (librosa / torch.stft convention; frames = ``1 + T // hop``). When
            ``False`` (VGGish) frame ``t`` is samples ``[t * hop, t * hop + win_length)``, with
            no padding; frames = ``1 + (T - win_length) // hop`` (0 when shorter than a window).
        pad_mode: padding used when ``center``: ``"reflect"`` or ``"constant"`` (zeros).
        window: ``"hann_periodic"`` (VGGish, librosa) or ``"hann_symmetric"``.
        normalize: ``None`` or ``"minmax"`` (each example scaled to [0, 1] over frames and mels).
        patch_frames: frames per patch (VGGish: 96 frames = 0.96 s) or the time crop length.
        patch_hop: frames between patch starts; ``None`` means ``patch_frames`` (no overlap).
    """

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 64
    f_min: float = 125.0
    f_max: float = 7500.0
    power: float = 1.0
    mel_scale: str = "htk"
    mel_norm: str | None = None
    mel_triangles: str | None = None
    log: str = "log_offset"
    log_offset: float = 0.01
    amin: float = 1e-10
    top_db: float | None = None
    center: bool = False
    pad_mode: str = "reflect"
    window: str = "hann_periodic"
    normalize: str | None = None
    patch_frames: int = 96
    patch_hop: int | None = None

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "patch_frames"):
            _check_positive_int(name, getattr(self, name))
        if self.patch_hop is not None:
            _check_positive_int("patch_hop", self.patch_hop)
        if self.win_length > self.n_fft:
            raise ValueError(f"LogMelConfig.win_length ({self.win_length}) must be <= n_fft ({self.n_fft})")
        for name in ("f_min", "f_max", "power", "log_offset", "amin"):
            _check_finite_number(name, getattr(self, name))
        nyquist = self.sample_rate / 2
        if self.f_min < 0:
            raise ValueError(f"LogMelConfig.f_min must be >= 0 Hz, got {self.f_min}")
        if self.f_max > nyquist:
            raise ValueError(f"LogMelConfig.f_max ({self.f_max} Hz) must be <= sample_rate / 2 ({nyquist} Hz)")
        if self.f_min >= self.f_max:
            raise ValueError(f"LogMelConfig.f_min ({self.f_min} Hz) must be < f_max ({self.f_max} Hz)")
        if self.power <= 0:
            raise ValueError(f"LogMelConfig.power must be > 0 (1 magnitude, 2 power), got {self.power}")
        _check_choice("mel_scale", self.mel_scale, MEL_SCALES)
        _check_choice("mel_norm", self.mel_norm, MEL_NORMS)
        _check_choice("mel_triangles", self.mel_triangles, MEL_TRIANGLES)
        _check_choice("log", self.log, LOG_MODES)
        _check_choice("window", self.window, WINDOWS)
        _check_choice("pad_mode", self.pad_mode, PAD_MODES)
        _check_choice("normalize", self.normalize, NORMALIZATIONS)
        if self.log_offset <= 0:
            raise ValueError(f"LogMelConfig.log_offset must be > 0 (log of silence would be -inf), "
                             f"got {self.log_offset}")
        if self.amin <= 0:
            raise ValueError(f"LogMelConfig.amin must be > 0, got {self.amin}")
        if self.top_db is not None:
            _check_finite_number("top_db", self.top_db)
            if self.top_db <= 0:
                raise ValueError(f"LogMelConfig.top_db must be > 0 or None, got {self.top_db}")
        if not isinstance(self.center, bool):
            raise ValueError(f"LogMelConfig.center must be True or False, got {self.center!r}")

    # -- derived -------------------------------------------------------------------------------
    @property
    def n_freqs(self) -> int:
        """FFT bins per frame: ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def triangles(self) -> str:
        """The triangle convention in use (``mel_triangles`` with ``None`` resolved)."""
        if self.mel_triangles is not None:
            return self.mel_triangles
        return "mel" if self.mel_scale == "htk" else "hz"

    @property
    def patch_step(self) -> int:
        """Frames between patch starts (``patch_hop`` with ``None`` resolved)."""
        return self.patch_hop if self.patch_hop is not None else self.patch_frames

    def num_frames(self, num_samples: int) -> int:
        """Frames :func:`~audiolib.features.log_mel` gives for ``num_samples`` at ``sample_rate``."""
        if self.center:  # padded by n_fft // 2 on both sides, frames of n_fft
            return 1 + (num_samples + 2 * (self.n_fft // 2) - self.n_fft) // self.hop_length
        if num_samples < self.win_length:
            return 0
        return 1 + (num_samples - self.win_length) // self.hop_length

    def with_(self, **changes: Any) -> "LogMelConfig":
        """A copy with ``changes`` applied (and validated), e.g. ``cfg.with_(n_mels=128)``."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"LogMelConfig has no field(s) {unknown}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (for run metadata)."""
        return dataclasses.asdict(self)


_VGGISH = LogMelConfig()
_LIBROSA_DB = dict(power=2.0, mel_scale="slaney", mel_norm="slaney", mel_triangles="hz", log="db",
                   amin=1e-10, top_db=80.0, center=True, pad_mode="reflect")
_C19 = LogMelConfig(sample_rate=22050, n_fft=1024, win_length=1024, hop_length=256, n_mels=128,
                    f_min=0.0, f_max=11025.0, normalize="minmax", patch_frames=300, **_LIBROSA_DB)

PRESETS: dict[str, LogMelConfig] = {
    "vggish": _VGGISH,
    "h17": _VGGISH,
    "yamnet": _VGGISH.with_(log_offset=0.001, patch_hop=48),
    "t19_cnn": LogMelConfig(sample_rate=44100, n_fft=2048, win_length=2048, hop_length=512, n_mels=128,
                            f_min=0.0, f_max=22050.0, patch_frames=862, **_LIBROSA_DB),
    "c19_r3": _C19,
    "c19_r2_mel": _C19.with_(n_mels=96, patch_frames=214),
    "c19_r1_mel": _C19.with_(n_mels=64, patch_frames=128),
}


def get_config(config: "LogMelConfig | str | dict | None" = None) -> LogMelConfig:
    """The one way to turn what a caller holds into a :class:`LogMelConfig`.

    Args:
        config: a preset name (see ``PRESETS``; an unknown name lists the known ones), a
            ``LogMelConfig`` (returned as is), a dict of its fields (as checkpoints store it), or
            ``None`` for the ``vggish`` preset.

    >>> get_config("t19_cnn").num_frames(10 * 44100)
    862
    >>> get_config(None) is get_config("vggish")
    True
    """
    if config is None:
        return PRESETS["vggish"]
    if isinstance(config, LogMelConfig):
        return config
    if isinstance(config, dict):
        return LogMelConfig(**config)
    if not isinstance(config, str):
        raise TypeError(f"a front-end config must be a LogMelConfig, a preset name or a dict, "
                        f"got {type(config).__name__}")
    try:
        return PRESETS[config]
    except KeyError:
        raise ValueError(f"unknown log-mel preset {config!r}; known presets: {sorted(PRESETS)}") from None
