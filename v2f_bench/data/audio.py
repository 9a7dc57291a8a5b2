"""Voice features exactly as the paper authors' code computed them, plus a faster batched path.

The authors' notebooks (REFERENCE.md section 1) load each clip with librosa at 22,050 Hz, cut it
into windows of 20,480 samples with 50 % overlap (a trailing partial window is dropped), and per
window compute a 60-band mel power spectrogram (n_fft 2048, hop 512, centred frames -> 41 frames),
convert it with ``librosa.amplitude_to_db`` (20 log10, ref 1.0, amin 1e-5, top_db 80 below the
window's maximum; applied to a *power* spectrogram, as they did), and stack the librosa delta
(Savitzky-Golay slope, width 9, ``mode='interp'``) of that log-mel as a second channel. No
normalisation follows. One window becomes an array of shape (60, 41, 2).

Two backends compute the same features from the same decoded waveform:
``librosa`` (the reference, one window at a time, as the authors did) and ``torch`` (all windows
of a clip in one batched STFT with torchaudio's mel filter bank). They agree within
``TORCH_TOLERANCE_DB`` (tested in tests/data/test_audio.py).
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from v2f_bench.errors import first_line

FEATURE_BACKENDS = ("librosa", "torch")

TORCH_TOLERANCE_DB = 0.05
"""Largest absolute difference (dB, in both channels) allowed between the torch and librosa paths.

float32 STFTs against librosa's float64 leave differences of a few thousandths of a dB; the bound
leaves room for that and nothing more.
"""


@dataclass(frozen=True)
class FeatureParams:
    """Parameters of the voice features; the defaults are the authors' code."""

    sample_rate: int = 22050
    """Clips are decoded and resampled to this rate (librosa's default, used by the authors)."""
    window: int = 20480
    """Samples per window (about 0.93 s at 22,050 Hz)."""
    overlap: float = 0.5
    """Fraction of a window shared with the next one; 0.5 gives a hop of 10,240 samples."""
    n_mels: int = 60
    n_fft: int = 2048
    hop_length: int = 512
    delta_width: int = 9
    top_db: float = 80.0

    @property
    def hop(self) -> int:
        return int(round(self.window * (1.0 - self.overlap)))

    @property
    def frames(self) -> int:
        """Frames per window of a centred STFT: 1 + window // hop_length (41 by default)."""
        return 1 + self.window // self.hop_length

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n_mels, self.frames, 2)

    def as_dict(self) -> dict:
        return asdict(self)


class AudioError(Exception):
    """A clip that cannot be used; the message is the reason recorded in the manifest."""


def decode(data: bytes, suffix: str, sample_rate: int) -> np.ndarray:
    """Decode an encoded clip to mono float32 at ``sample_rate``, as ``librosa.load`` does.

    wav, flac, ogg and mp3 decode through soundfile from memory; m4a/aac needs ffmpeg (through
    audioread), so it goes through a temporary file and fails with a clear reason without ffmpeg.
    """
    import librosa

    if not data:
        raise AudioError("empty file (0 bytes)")
    suffix = suffix.lower()
    if suffix in (".m4a", ".aac", ".mp4"):
        if shutil.which("ffmpeg") is None:
            raise AudioError(f"{suffix} needs ffmpeg to decode; install it (apt-get install ffmpeg) or convert the clips to wav/flac")
        with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
            tmp.write(data)
            tmp.flush()
            return _load(librosa, tmp.name, sample_rate)
    return _load(librosa, io.BytesIO(data), sample_rate)


def _load(librosa, source, sample_rate: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y, _ = librosa.load(source, sr=sample_rate, mono=True)
    except Exception as exc:  # soundfile/audioread raise many types for undecodable input
        raise AudioError(f"cannot decode audio ({type(exc).__name__}: {_first_line(exc)})") from None
    if y.size == 0:
        raise AudioError("decodes to no samples")
    if not np.all(np.isfinite(y)):
        raise AudioError("decodes to non-finite samples")
    return y.astype(np.float32, copy=False)


def _first_line(exc: Exception) -> str:
    """The first line of an exception's message, without the in-memory file object soundfile names."""
    return re.sub(r"Error opening <[^>]*>: ", "", first_line(exc, "no detail"))


def frame_windows(y: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Cut a waveform into full windows with the configured overlap; a partial tail is dropped.

    Returns an array of shape (n_windows, window). A clip shorter than one window raises
    ``AudioError`` naming its duration.
    """
    if y.shape[0] < params.window:
        raise AudioError(
            f"too short: {y.shape[0] / params.sample_rate:.2f} s, a window needs {params.window / params.sample_rate:.2f} s"
        )
    n = 1 + (y.shape[0] - params.window) // params.hop
    starts = np.arange(n) * params.hop
    return np.stack([y[s : s + params.window] for s in starts])


def features_librosa(windows: np.ndarray, params: FeatureParams) -> np.ndarray:
    """The reference: the authors' per-window librosa computation. Returns (n, n_mels, frames, 2) float32."""
    import librosa

    out = np.empty((windows.shape[0], *params.shape), dtype=np.float32)
    for i, signal in enumerate(windows):
        mel = librosa.feature.melspectrogram(
            y=signal, sr=params.sample_rate, n_fft=params.n_fft, hop_length=params.hop_length, n_mels=params.n_mels
        )
        log_mel = librosa.amplitude_to_db(mel, top_db=params.top_db)
        out[i, :, :, 0] = log_mel
        out[i, :, :, 1] = librosa.feature.delta(log_mel, width=params.delta_width)
    return out


class TorchFeatures:
    """Batched features with torch: one STFT over all windows, torchaudio's Slaney mel bank.

    The mel bank equals librosa's default (Slaney mel scale and area normalisation); the STFT is
    centred with zero padding (librosa >= 0.10's default); the delta is the least-squares slope
    over ``delta_width`` frames, with the first and last ``delta_width // 2`` frames taking the
    slope fitted on the edge window, which is what ``savgol_filter(..., mode='interp')`` gives for
    a first-order fit.
    """

    def __init__(self, params: FeatureParams, device: str = "cpu"):
        import torch
        import torchaudio.functional as AF

        self.params = params
        self.device = torch.device(device)
        self.window = torch.hann_window(params.n_fft, periodic=True, device=self.device)
        self.mel_bank = AF.melscale_fbanks(
            n_freqs=params.n_fft // 2 + 1,
            f_min=0.0,
            f_max=params.sample_rate / 2.0,
            n_mels=params.n_mels,
            sample_rate=params.sample_rate,
            norm="slaney",
            mel_scale="slaney",
        ).to(self.device)
        half = params.delta_width // 2
        taps = torch.arange(-half, half + 1, dtype=torch.float32)
        self.delta_kernel = (taps / (taps**2).sum()).view(1, 1, -1).to(self.device)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        import torch

        p = self.params
        with torch.no_grad():
            x = torch.as_tensor(windows, dtype=torch.float32, device=self.device)
            spec = torch.stft(
                x, n_fft=p.n_fft, hop_length=p.hop_length, window=self.window, center=True, pad_mode="constant", return_complex=True
            )
            power = spec.real**2 + spec.imag**2
            mel = torch.einsum("bft,fm->bmt", power, self.mel_bank)
            log_mel = 20.0 * torch.log10(torch.clamp(mel, min=1e-5))
            peak = log_mel.amax(dim=(1, 2), keepdim=True)
            log_mel = torch.maximum(log_mel, peak - p.top_db)
            delta = self._delta(log_mel)
            return torch.stack([log_mel, delta], dim=-1).cpu().numpy()

    def _delta(self, log_mel):
        import torch
        import torch.nn.functional as F

        b, m, t = log_mel.shape
        half = self.params.delta_width // 2
        inner = F.conv1d(log_mel.reshape(b * m, 1, t), self.delta_kernel).reshape(b, m, -1)
        left = inner[:, :, :1].expand(b, m, half)
        right = inner[:, :, -1:].expand(b, m, half)
        return torch.cat([left, inner, right], dim=2)


def clip_features(data: bytes, suffix: str, params: FeatureParams, backend: str = "librosa") -> np.ndarray:
    """Encoded clip bytes -> (n_windows, n_mels, frames, 2) float32 features. Raises ``AudioError``."""
    if backend not in FEATURE_BACKENDS:
        raise ValueError(f"unknown feature backend {backend!r}; choose one of {', '.join(FEATURE_BACKENDS)}")
    windows = frame_windows(decode(data, suffix, params.sample_rate), params)
    if backend == "librosa":
        return features_librosa(windows, params)
    return _torch_features(params)(windows)


_TORCH_CACHE: dict[FeatureParams, TorchFeatures] = {}


def _torch_features(params: FeatureParams) -> TorchFeatures:
    if params not in _TORCH_CACHE:
        _TORCH_CACHE[params] = TorchFeatures(params)
    return _TORCH_CACHE[params]
