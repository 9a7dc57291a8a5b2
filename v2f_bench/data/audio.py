"""Voice features exactly as the paper authors' code computed them, plus a faster batched path.

The authors' notebooks (REFERENCE.md section 1) load each clip with librosa at 22,050 Hz, cut it
into windows of 20,480 samples with 50 % overlap (a trailing partial window is dropped), and per
window compute a 60-band mel power spectrogram (n_fft 2048, hop 512, centred frames -> 41 frames),
convert it with ``librosa.amplitude_to_db`` (20 log10, ref 1.0, amin 1e-5, top_db 80 below the
window's maximum; applied to a *power* spectrogram, as they did), and stack the librosa delta
(Savitzky-Golay slope, width 9, ``mode='interp'``) of that log-mel as a second channel. No
normalisation follows. One window becomes an array of shape (60, 41, 2).

Two backends compute the same features from the same decoded waveform:
``librosa`` (the reference, one window at a time, as the authors did) and ``torch`` (several
clips together, in batched FFTs with torchaudio's mel filter bank; see ``TorchFeatures``). They
agree within ``TORCH_TOLERANCE_DB`` (tested in tests/data/test_audio.py).
"""

from __future__ import annotations

import io
import math
import re
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from v2f_bench.errors import first_line

FEATURE_BACKENDS = ("librosa", "torch")

TORCH_TOLERANCE_DB = 0.05
"""Largest absolute difference (dB, in both channels) allowed between the torch and librosa paths.

float32 STFTs against librosa's float64 leave differences of a few thousandths of a dB; the bound
leaves room for that and nothing more.
"""

TORCH_BLOCK = 256
"""Most STFT frames per torch FFT call. The block sets speed and memory only: up to 256 frames
(2 MiB in, 2 MiB of spectrum out) stay near the CPU caches; the measured per-window cost is flat
from 128 to 512 frames and rises beyond."""


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


def window_count(n_samples: int, params: FeatureParams) -> int:
    """Full windows in ``n_samples`` (a partial tail is dropped); a clip shorter than one window raises ``AudioError``."""
    if n_samples < params.window:
        raise AudioError(
            f"too short: {n_samples / params.sample_rate:.2f} s, a window needs {params.window / params.sample_rate:.2f} s"
        )
    return 1 + (n_samples - params.window) // params.hop


def frame_windows(y: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Cut a waveform into full windows with the configured overlap; a partial tail is dropped.

    Returns an array of shape (n_windows, window). A clip shorter than one window raises
    ``AudioError`` naming its duration.
    """
    starts = np.arange(window_count(y.shape[0], params)) * params.hop
    return np.stack([y[s : s + params.window] for s in starts])


def load_clip(data: bytes, suffix: str, params: FeatureParams) -> np.ndarray:
    """Encoded clip bytes -> its waveform at ``params.sample_rate``, holding at least one window. Raises ``AudioError``."""
    y = decode(data, suffix, params.sample_rate)
    window_count(y.shape[0], params)
    return y


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
    """Batched features with torch for several clips at once, with torchaudio's Slaney mel bank.

    The mel bank equals librosa's default (Slaney mel scale and area normalisation); the STFT is
    centred with zero padding (librosa >= 0.10's default); the delta is the least-squares slope
    over ``delta_width`` frames, with the first and last ``delta_width // 2`` frames taking the
    slope fitted on the edge window, which is what ``savgol_filter(..., mode='interp')`` gives for
    a first-order fit.

    Windows overlap, and so do their STFT frames: a frame that lies wholly inside its window
    (frames 2 to 38 by default) sees the same samples as the frame at the same place in the next
    window, whenever the window hop is a multiple of the frame hop. Such a "shared" frame is
    transformed once per clip; only the frames that reach into a window's zero padding (0, 1, 39
    and 40) are transformed per window. By default that is about 24 FFTs per window instead of 41,
    each on the same samples as in a per-window STFT (which it matches to float32 rounding; tested).
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
        self._plan_frames()

    def _plan_frames(self) -> None:
        """Which frames of a window are shared (``self.shared``) and which its own (``self.own``).

        Frame j of a window covers window samples [j * hop_length - n_fft // 2, + n_fft); it is
        shared when that range lies inside the window and the window hop is ``self.stride`` frame
        hops, so that frame j of window k is frame k * stride + j of the clip.
        """
        p = self.params
        pad = p.n_fft // 2
        first = -(-pad // p.hop_length)
        last = (p.window + pad - p.n_fft) // p.hop_length
        self.stride = p.hop // p.hop_length
        shareable = p.hop % p.hop_length == 0 and first <= last
        self.shared = range(first, last + 1) if shareable else range(0)
        self.own = [j for j in range(p.frames) if j not in self.shared]

    def __call__(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One waveform per clip (each at least one window long) -> per clip (n_windows, n_mels, frames, 2) float32.

        Each clip's FFTs and mel projection run on that clip's frames alone, so that its result
        does not depend on the clips beside it (BLAS picks its kernel by the number of rows, which
        changes the last bit); the per-window steps after them run on all the clips together.
        """
        import torch

        if not waveforms:
            return []
        with torch.no_grad():
            log_mel = [self._clip_log_mel(torch.as_tensor(y, dtype=torch.float32, device=self.device)) for y in waveforms]
            features = self._features(torch.cat(log_mel))
        return np.split(features, np.cumsum([len(clip) for clip in log_mel])[:-1])

    def _clip_log_mel(self, y):
        """A clip's (n_windows, n_mels, frames) log-mel: its distinct frames in blocks of at most
        ``TORCH_BLOCK`` rows of near-equal size, then gathered window by window."""
        import torch

        parts, index = self._clip_frames(y)
        rows = sum(len(part) for part in parts)
        size = math.ceil(rows / math.ceil(rows / TORCH_BLOCK))
        mel = torch.cat([self._mel(block) for block in _row_blocks(parts, size)])
        return self._log_mel(mel)[torch.as_tensor(index, device=self.device)].transpose(1, 2)

    def _clip_frames(self, y) -> tuple[list, np.ndarray]:
        """A clip's distinct frames, as [shared frames, own frames] (n_fft samples each), and the
        (n_windows, frames) index of each window's frames into their rows."""
        import torch.nn.functional as F

        p = self.params
        pad = p.n_fft // 2
        n = window_count(y.shape[0], p)
        k = np.arange(n)[:, None]
        index = np.empty((n, p.frames), dtype=np.int64)
        parts = []
        if self.shared:
            first = self.shared[0]
            count = (n - 1) * self.stride + len(self.shared)
            start = first * p.hop_length - pad
            parts.append(y[start : start + (count - 1) * p.hop_length + p.n_fft].unfold(0, p.n_fft, p.hop_length))
            index[:, self.shared] = k * self.stride + np.arange(len(self.shared))
        if self.own:
            windows = F.pad(y.unfold(0, p.window, p.hop)[:n], (pad, pad))
            own = windows.unfold(1, p.n_fft, p.hop_length)[:, self.own]
            index[:, self.own] = sum(map(len, parts)) + k * len(self.own) + np.arange(len(self.own))
            parts.append(own.reshape(-1, p.n_fft))
        return parts, index

    def _mel(self, frames):
        """(rows, n_fft) frames -> (rows, n_mels) mel power."""
        import torch

        spec = torch.view_as_real(torch.fft.rfft(frames * self.window))
        return (spec[..., 0].square() + spec[..., 1].square()) @ self.mel_bank

    def _log_mel(self, mel):
        import torch

        return 20.0 * torch.log10(torch.clamp(mel, min=1e-5))

    def _features(self, log_mel) -> np.ndarray:
        """(windows, n_mels, frames) log-mel -> (windows, n_mels, frames, 2): clamped top_db below each window's peak, and its delta."""
        import torch

        peak = log_mel.amax(dim=(1, 2), keepdim=True)
        log_mel = torch.maximum(log_mel, peak - self.params.top_db)
        return torch.stack([log_mel, self._delta(log_mel)], dim=-1).cpu().numpy()

    def _delta(self, log_mel):
        import torch
        import torch.nn.functional as F

        b, m, t = log_mel.shape
        half = self.params.delta_width // 2
        inner = F.conv1d(log_mel.reshape(b * m, 1, t), self.delta_kernel).reshape(b, m, -1)
        left = inner[:, :, :1].expand(b, m, half)
        right = inner[:, :, -1:].expand(b, m, half)
        return torch.cat([left, inner, right], dim=2)


def _row_blocks(parts: list, size: int):
    """The rows of ``parts`` (2-D tensors) in order, concatenated ``size`` at a time (the last block may be shorter)."""
    import torch

    pending, count = [], 0
    for part in parts:
        start = 0
        while start < len(part):
            take = min(size - count, len(part) - start)
            pending.append(part[start : start + take])
            count, start = count + take, start + take
            if count == size:
                yield torch.cat(pending)
                pending, count = [], 0
    if pending:
        yield torch.cat(pending)


def clips_features(waveforms: Sequence[np.ndarray], params: FeatureParams, backend: str = "librosa") -> list[np.ndarray]:
    """The features of several clips, one (n_windows, n_mels, frames, 2) float32 array per waveform.

    The torch backend takes all the clips in one call (a clip of a few seconds has only a handful
    of windows, too few to pay for a call each); a clip's features are the same whichever clips
    share its call (tested).
    """
    _check_backend(backend)
    if backend == "librosa":
        return [features_librosa(frame_windows(y, params), params) for y in waveforms]
    return _torch_features(params)(waveforms)


def clip_features(data: bytes, suffix: str, params: FeatureParams, backend: str = "librosa") -> np.ndarray:
    """Encoded clip bytes -> (n_windows, n_mels, frames, 2) float32 features. Raises ``AudioError``."""
    _check_backend(backend)
    return clips_features([load_clip(data, suffix, params)], params, backend)[0]


def _check_backend(backend: str) -> None:
    if backend not in FEATURE_BACKENDS:
        raise ValueError(f"unknown feature backend {backend!r}; choose one of {', '.join(FEATURE_BACKENDS)}")


_TORCH_CACHE: dict[FeatureParams, TorchFeatures] = {}


def _torch_features(params: FeatureParams) -> TorchFeatures:
    if params not in _TORCH_CACHE:
        _TORCH_CACHE[params] = TorchFeatures(params)
    return _TORCH_CACHE[params]
