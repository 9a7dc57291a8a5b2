"""``ge2e``: Resemblyzer's pretrained GE2E speaker encoder (Wan et al. 2018), frozen, 256-d.

The weights are the ``pretrained.pt`` that the locked ``resemblyzer`` package ships (found with
``packaged_files.package_file``; nothing is downloaded), loaded by Resemblyzer's own ``VoiceEncoder``
class (3-layer LSTM of 256 units on 40-channel mel frames, then ReLU(linear) and L2 normalisation).

What the network sees, per prepared window (so that window i of ``ge2e`` and of the paper CNN
cover the same stretch of speech):

1. The clip is re-decoded from ``manifest["sources"]["voice_root"] / clip["file"]`` (or from the
   ``audio_root`` given instead) with ``data.audio.decode`` at 16 kHz mono, GE2E's rate; its bytes
   must still hash to the manifest's ``sha256``.
2. Volume normalisation of the whole clip to -30 dBFS, increase only, as Resemblyzer's
   ``preprocess_wav`` does. No VAD silence trimming: it would shift the windows' time spans.
3. Window k of the clip spans [k * hop, k * hop + window) samples at the prepared rate (22,050 Hz
   by default: 0.929 s every 0.464 s), i.e. 16 kHz samples from round(k * hop * 16000 / sr) for
   round(window * 16000 / sr) samples (14,861).
4. A window is shorter than GE2E's 1.6 s partial (160 frames of 10 ms). Resemblyzer's
   ``embed_utterance`` handles audio shorter than one partial by zero-padding the waveform to the
   partial's 25,600 samples and embedding that single partial; we do exactly that, batched: the
   mel spectrogram (``resemblyzer.audio.wav_to_mel_spectrogram``: 25 ms windows, 10 ms hop, power
   mel, not log) of the padded window, its first 160 frames, one forward pass. The embedding is
   the network's output, already L2-normalised (and non-negative, after the ReLU).
   Measured on the seven real VoxCeleb1 clips of the tests (three parts each, 63 windows), the padding
   separates speakers better than feeding the window's 93 frames alone: mean clip cosine same/other
   speaker 0.82/0.53 against 0.78/0.52, nearest-neighbour speaker of a clip 21/21 against 19/21.

Cost: about 43 s for the 4,053 windows (324 mp3 clips) of the default data on 2 shared CPU cores,
of which about 36 s is the LSTM (batches of 128 partials) and the rest decoding.

The clip embedding is the mean of its windows' embeddings, as for every encoder (not re-normalised).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from v2f_bench.errors import UserError
from v2f_bench.voice_encoders.base import VoiceEncoder

SAMPLE_RATE = 16000
"""GE2E's input rate (Resemblyzer's ``hparams.sampling_rate``)."""
PARTIAL_FRAMES = 160
"""Frames of one partial utterance: 1.6 s at a 10 ms hop (``hparams.partials_n_frames``)."""
PARTIAL_SAMPLES = PARTIAL_FRAMES * SAMPLE_RATE // 100
TARGET_DBFS = -30
"""``hparams.audio_norm_target_dBFS``."""


def _resemblyzer():
    """Resemblyzer's ``VoiceEncoder`` class and ``audio`` module; its ``scipy.ndimage.morphology`` import
    (used only by the VAD trimming we do not run) warns of deprecation, which is not ours to fix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from resemblyzer import VoiceEncoder, audio
    return VoiceEncoder, audio


def weights_file() -> Path:
    from v2f_bench.packaged_files import package_file

    return package_file("resemblyzer", "pretrained.pt", "resemblyzer")


class GE2E(VoiceEncoder):
    """Resemblyzer's pretrained GE2E encoder on each prepared window's 16 kHz audio."""

    name = "ge2e"
    trainable = False
    embedding_dim = 256
    description = "Resemblyzer's pretrained GE2E speaker encoder (LSTM on 16 kHz mel frames), frozen (256-d)"

    def cache_inputs(self) -> dict:
        from v2f_bench.hashing import sha256_file

        return {"weights_sha256": sha256_file(weights_file()), "partial_frames": PARTIAL_FRAMES, "target_dbfs": TARGET_DBFS}

    def window_embeddings(self, prepared, model=None, batch_size: int = 128) -> np.ndarray:
        from v2f_bench.runtime import device

        net = _resemblyzer()[0](device=device(), verbose=False, weights_fpath=weights_file()).eval()
        out = np.zeros((prepared.n_windows, self.embedding_dim), dtype=np.float32)
        at = 0
        with torch.no_grad():
            for audio in window_audio(prepared, self.audio_root, batch_size):
                mels = partial_mels(audio)
                out[at : at + len(mels)] = net(torch.from_numpy(mels).to(net.device)).cpu().numpy()
                at += len(mels)
        return out


def partial_mels(windows: np.ndarray) -> np.ndarray:
    """(B, samples <= PARTIAL_SAMPLES) 16 kHz windows -> (B, 160, 40) mel frames of each window zero-padded to one partial."""
    wav_to_mel_spectrogram = _resemblyzer()[1].wav_to_mel_spectrogram
    padded = np.zeros((len(windows), PARTIAL_SAMPLES), dtype=np.float32)
    padded[:, : windows.shape[1]] = windows
    return np.stack([wav_to_mel_spectrogram(w)[:PARTIAL_FRAMES] for w in padded])


def window_audio(prepared, audio_root: Path | None = None, batch: int = 128) -> Iterator[np.ndarray]:
    """The 16 kHz audio of the prepared windows, (<= ``batch``, n) float32 at a time, in window order (see the module
    docstring): one clip decoded and one batch held at a time, never every window's audio (3x the features' size)."""
    from v2f_bench.data.audio import FeatureParams
    from v2f_bench.progress import progress

    manifest = prepared.manifest
    params = FeatureParams(**manifest["params"]["features"])
    root = Path(audio_root) if audio_root is not None else Path(manifest["sources"]["voice_root"])
    scale = SAMPLE_RATE / params.sample_rate
    length = int(round(params.window * scale))
    pending = np.zeros((batch, length), dtype=np.float32)
    held = 0
    for clip in progress(sorted(manifest["clips"], key=lambda c: c["first_window"]), "ge2e: decoding clips at 16 kHz", unit="clip"):
        wav = decode_clip(root, clip)
        if np.any(wav):
            wav = _resemblyzer()[1].normalize_volume(wav, TARGET_DBFS, increase_only=True)
        for k in range(clip["n_windows"]):
            start = int(round(k * params.hop * scale))
            piece = wav[start : start + length]
            pending[held, : len(piece)] = piece
            held += 1
            if held == batch:
                yield pending.copy()
                pending[:] = 0
                held = 0
    if held:
        yield pending[:held].copy()


def decode_clip(root: Path, clip: dict) -> np.ndarray:
    """A prepared clip's source file at 16 kHz; a one-line ``UserError`` when it moved, changed or does not decode."""
    from v2f_bench.data.audio import AudioError, decode

    path = root / clip["file"]
    fix = "re-run prepare, or pass the folder the clips are in now (--voice-audio)"
    try:
        data = path.read_bytes()
    except OSError:
        raise UserError(f"{path}: the voice clip the prepared dataset was made from is not there; {fix}") from None
    if hashlib.sha256(data).hexdigest() != clip["sha256"]:
        raise UserError(f"{path}: differs from the voice clip the prepared dataset was made from (SHA-256 mismatch); {fix}")
    try:
        return decode(data, path.suffix, SAMPLE_RATE)
    except AudioError as exc:
        raise UserError(f"{path}: {exc}") from None
