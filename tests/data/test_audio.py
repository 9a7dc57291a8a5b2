"""Voice features: windowing, the librosa reference, the batched torch path, decoding and its failures.

The features are the authors' (60 log-mel bands x 41 frames x {log-mel, delta} per window of
20,480 samples at 22,050 Hz, hop 10,240). Audio is real: a synthetic voice clip and a tone in
noise, encoded to WAV and MP3 with soundfile. The first librosa call JIT-compiles for a few
seconds, so the expensive results are computed once per module.
"""

from __future__ import annotations

import io

import librosa
import numpy as np
import pytest
import soundfile as sf

from v2f_bench.data import audio
from v2f_bench.data.audio import (
    FEATURE_BACKENDS,
    TORCH_TOLERANCE_DB,
    AudioError,
    FeatureParams,
    TorchFeatures,
    clip_features,
    clips_features,
    decode,
    features_librosa,
    frame_windows,
)
from v2f_bench.data.synth_voice import render_clip, sample_voice_profile

SR = 22050
PARAMS = FeatureParams()


def _voice(sample_rate: int, seconds: float = 3.0, gender: str = "f") -> np.ndarray:
    profile = sample_voice_profile(np.random.default_rng(0), gender)
    return render_clip(profile, np.random.default_rng(1), seconds, sample_rate)


def _tone_in_noise(seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(2).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * noise).astype(np.float32)


def _burst_in_silence(seconds: float = 2.0) -> np.ndarray:
    """A 1 kHz burst in the middle of digital silence: exercises the amin floor and the top_db clamp."""
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros(t.size, dtype=np.float32)
    mid = slice(t.size // 3, 2 * t.size // 3)
    y[mid] = 0.5 * np.sin(2 * np.pi * 1000.0 * t[mid])
    return y


SIGNALS = {
    "synthetic-voice": lambda: _voice(SR),
    "tone-in-noise": _tone_in_noise,
    "burst-in-silence": _burst_in_silence,
}


def _encode(y: np.ndarray, sample_rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sample_rate, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.fixture(scope="module")
def computed() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per signal: its windows, the librosa features and the torch features (computed once)."""
    out = {}
    torch_path = TorchFeatures(PARAMS)
    for name, make in SIGNALS.items():
        y = make()
        windows = frame_windows(y, PARAMS)
        out[name] = (windows, features_librosa(windows, PARAMS), torch_path([y])[0])
    return out


@pytest.fixture(scope="module")
def voice_16k() -> np.ndarray:
    """A 3 s clip recorded at 16 kHz, as VoxCeleb ships them (48,000 samples)."""
    return _voice(16000, gender="m")


@pytest.fixture(scope="module")
def encoded(voice_16k) -> dict[str, bytes]:
    return {
        ".wav": _encode(voice_16k, 16000, "WAV", "PCM_16"),
        ".mp3": _encode(voice_16k, 16000, "MP3"),
    }


@pytest.fixture(scope="module")
def encoded_features(encoded) -> dict[tuple[str, str], np.ndarray]:
    return {(suffix, backend): clip_features(data, suffix, PARAMS, backend) for suffix, data in encoded.items() for backend in FEATURE_BACKENDS}


# --- parameters and windowing ---------------------------------------------------------------


def test_default_params_are_the_authors():
    assert PARAMS.sample_rate == 22050
    assert PARAMS.hop == 10240
    assert PARAMS.frames == 41
    assert PARAMS.shape == (60, 41, 2)


def test_overlap_sets_the_hop():
    assert FeatureParams(overlap=0.75).hop == 5120
    assert FeatureParams(overlap=0.0).hop == 20480


@pytest.mark.parametrize(
    "n_samples, n_windows",
    [
        pytest.param(20480, 1, id="exactly-one-window"),
        pytest.param(30719, 1, id="one-short-of-a-second-window"),
        pytest.param(30720, 2, id="exactly-two-windows"),
        pytest.param(66150, 5, id="three-seconds"),
        pytest.param(71679, 5, id="partial-tail-of-10239-samples-dropped"),
        pytest.param(71680, 6, id="tail-completes-a-window"),
    ],
)
def test_frame_windows_count_is_floor_of_hops_plus_one(n_samples, n_windows):
    assert n_windows == (n_samples - 20480) // 10240 + 1
    y = np.arange(n_samples, dtype=np.float32)
    windows = frame_windows(y, PARAMS)
    assert windows.shape == (n_windows, 20480)
    for k, window in enumerate(windows):
        np.testing.assert_array_equal(window, y[k * 10240 : k * 10240 + 20480])
    # whatever is left after the last full window is never seen
    assert windows[-1, -1] == (n_windows - 1) * 10240 + 20479


def test_clip_shorter_than_one_window_is_too_short():
    with pytest.raises(AudioError, match=r"too short: 0\.93 s, a window needs 0\.93 s"):
        frame_windows(np.zeros(20479, dtype=np.float32), PARAMS)
    with pytest.raises(AudioError, match="too short: 0.50 s"):
        frame_windows(np.zeros(SR // 2, dtype=np.float32), PARAMS)


# --- the two backends -----------------------------------------------------------------------


@pytest.mark.parametrize("signal", [pytest.param(name, id=name) for name in SIGNALS])
def test_torch_backend_matches_librosa_within_tolerance(computed, signal):
    windows, reference, batched = computed[signal]
    assert reference.shape == batched.shape == (len(windows), 60, 41, 2)
    assert reference.dtype == batched.dtype == np.float32
    log_mel_error = np.abs(reference[..., 0] - batched[..., 0]).max()
    delta_error = np.abs(reference[..., 1] - batched[..., 1]).max()
    assert log_mel_error <= TORCH_TOLERANCE_DB
    assert delta_error <= TORCH_TOLERANCE_DB


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(FeatureParams(overlap=0.75), id="overlap-0.75-shares-frames"),
        pytest.param(FeatureParams(overlap=0.0), id="no-overlap-leaves-unused-clip-frames"),
        pytest.param(FeatureParams(overlap=0.33), id="hop-13722-not-a-multiple-of-512-shares-nothing"),
        pytest.param(FeatureParams(hop_length=500, n_fft=1024), id="hop-length-500-shares-nothing"),
        pytest.param(FeatureParams(window=4096, n_fft=4096), id="no-frame-inside-a-window"),
    ],
)
def test_torch_backend_matches_librosa_for_other_parameters(params):
    """Whether and how frames are shared between windows depends on the parameters; every case matches librosa."""
    y = _tone_in_noise(2.5)
    reference = features_librosa(frame_windows(y, params), params)
    batched = TorchFeatures(params)([y])[0]
    assert batched.shape == reference.shape == (len(frame_windows(y, params)), *params.shape)
    assert np.abs(reference - batched).max() <= TORCH_TOLERANCE_DB


def test_frames_are_shared_only_where_a_window_hop_is_whole_frame_hops():
    assert list(TorchFeatures(PARAMS).shared) == list(range(2, 39))
    assert TorchFeatures(PARAMS).own == [0, 1, 39, 40]
    assert list(TorchFeatures(FeatureParams(overlap=0.33)).shared) == []


@pytest.fixture(scope="module")
def clips_of_many_lengths() -> list[np.ndarray]:
    """Clips from exactly one window to several, most with a partial tail."""
    y = _voice(SR, seconds=4.0)
    return [y[:n] for n in (20480, 30719, 30720, 44100, 66150, 88200)]


def test_torch_batch_of_clips_gives_each_clip_what_it_gets_alone(clips_of_many_lengths):
    together = clips_features(clips_of_many_lengths, PARAMS, "torch")
    assert len(together) == len(clips_of_many_lengths)
    for y, features in zip(clips_of_many_lengths, together):
        alone = clips_features([y], PARAMS, "torch")[0]
        assert features.shape == alone.shape == (len(frame_windows(y, PARAMS)), 60, 41, 2)
        np.testing.assert_array_equal(features, alone)


def test_shared_frames_give_what_a_per_window_stft_gives(clips_of_many_lengths, monkeypatch):
    """Each window computed on its own (no frame shared, 41 FFTs per window, one block per window) against the shared frames."""
    y = clips_of_many_lengths[-1]
    shared = TorchFeatures(PARAMS)([y])[0]
    per_window = TorchFeatures(PARAMS)
    per_window.shared, per_window.own = range(0), list(range(PARAMS.frames))
    monkeypatch.setattr(audio, "TORCH_BLOCK", PARAMS.frames)
    np.testing.assert_allclose(per_window([y])[0], shared, rtol=0, atol=1e-4)


def test_librosa_backend_of_a_batch_is_each_clip_alone(clips_of_many_lengths):
    together = clips_features(clips_of_many_lengths[:2], PARAMS, "librosa")
    for y, features in zip(clips_of_many_lengths, together):
        np.testing.assert_array_equal(features, features_librosa(frame_windows(y, PARAMS), PARAMS))


def test_no_clips_give_no_features():
    assert clips_features([], PARAMS, "torch") == [] == clips_features([], PARAMS, "librosa")


@pytest.mark.parametrize("signal", [pytest.param(name, id=name) for name in SIGNALS])
def test_librosa_backend_is_the_authors_computation(computed, signal):
    windows, reference, _ = computed[signal]
    for window, features in zip(windows, reference):
        mel = librosa.feature.melspectrogram(y=window, sr=22050, n_fft=2048, hop_length=512, n_mels=60)
        log_mel = librosa.amplitude_to_db(mel)
        delta = librosa.feature.delta(log_mel, width=9)
        np.testing.assert_array_equal(features[..., 0], log_mel.astype(np.float32))
        np.testing.assert_array_equal(features[..., 1], delta.astype(np.float32))


def test_log_mel_is_clamped_80_db_below_each_windows_peak(computed):
    _, reference, batched = computed["burst-in-silence"]
    for features in (reference, batched):
        for window in features[..., 0]:
            assert window.min() >= window.max() - 80.0 - 1e-3
    # the silent edges of the burst clip reach the floor: the clamp is actually exercised
    assert np.isclose(reference[0, ..., 0].min(), reference[0, ..., 0].max() - 80.0, atol=1e-3)


def test_features_are_not_normalised(computed):
    """The authors fed raw dB values: a 0.3-amplitude tone sits well above 0 dB, not at zero mean/unit variance."""
    _, reference, _ = computed["tone-in-noise"]
    assert reference[..., 0].max() > 20.0
    assert abs(float(reference[..., 0].mean())) > 1.0


# --- encoded clips --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [pytest.param(".wav", id="wav-pcm16"), pytest.param(".mp3", id="mp3")])
def test_encoded_clip_decodes_and_is_resampled_to_22050(encoded, suffix):
    y = decode(encoded[suffix], suffix, 22050)
    assert y.dtype == np.float32
    assert y.ndim == 1
    # 3 s at 16 kHz become 3 s at 22,050 Hz (not 48,000 samples kept as they are)
    assert abs(y.size - 3 * 22050) <= 0.01 * 22050
    assert np.abs(y).max() > 0.1


@pytest.mark.parametrize("suffix", [pytest.param(".wav", id="wav-pcm16"), pytest.param(".mp3", id="mp3")])
def test_clip_features_window_count_follows_the_22050_hz_duration(encoded_features, suffix):
    # 3 s at 22,050 Hz = 66,150 samples -> 5 windows; without resampling 48,000 samples would give 3
    for backend in FEATURE_BACKENDS:
        features = encoded_features[(suffix, backend)]
        assert features.shape == (5, 60, 41, 2)
        assert np.all(np.isfinite(features))


@pytest.mark.parametrize("suffix", [pytest.param(".wav", id="wav-pcm16"), pytest.param(".mp3", id="mp3")])
def test_clip_features_backends_agree_on_encoded_clips(encoded_features, suffix):
    reference = encoded_features[(suffix, "librosa")]
    batched = encoded_features[(suffix, "torch")]
    assert np.abs(reference - batched).max() <= TORCH_TOLERANCE_DB


def test_suffix_case_does_not_matter(encoded, encoded_features):
    upper = clip_features(encoded[".wav"], ".WAV", PARAMS, "torch")
    np.testing.assert_array_equal(upper, encoded_features[(".wav", "torch")])


def test_clip_features_from_a_file_on_disk(tmp_path, voice_16k, encoded_features):
    path = tmp_path / "clip.wav"
    sf.write(path, voice_16k, 16000, subtype="PCM_16")
    features = clip_features(path.read_bytes(), path.suffix, PARAMS, "torch")
    np.testing.assert_array_equal(features, encoded_features[(".wav", "torch")])


def _wav_header_only(voice_16k) -> bytes:
    return _encode(voice_16k, 16000, "WAV", "PCM_16")[:20]


def _short_wav(_) -> bytes:
    return _encode(np.zeros(8000, dtype=np.float32) + 0.1, 16000, "WAV", "PCM_16")  # 0.5 s


BAD_CLIPS = [
    pytest.param(lambda v: b"", ".wav", r"empty file \(0 bytes\)", id="empty-bytes"),
    pytest.param(lambda v: np.random.default_rng(0).bytes(4096), ".wav", r"cannot decode audio \(", id="random-bytes-as-wav"),
    pytest.param(lambda v: b"this is a note, not a recording\n" * 20, ".wav", r"cannot decode audio \(.*Format not recognised", id="text-file-as-wav"),
    pytest.param(_wav_header_only, ".wav", r"cannot decode audio \(.*Malformed", id="truncated-wav-header"),
    pytest.param(lambda v: _encode(v, 16000, "WAV", "PCM_16")[:44], ".wav", "decodes to no samples", id="wav-header-without-samples"),
    pytest.param(_short_wav, ".wav", r"too short: 0\.50 s", id="too-short-clip"),
]


@pytest.mark.parametrize("make, suffix, message", BAD_CLIPS)
def test_bad_clip_raises_audio_error_with_reason(voice_16k, make, suffix, message):
    with pytest.raises(AudioError, match=message):
        clip_features(make(voice_16k), suffix, PARAMS, "librosa")


@pytest.mark.parametrize("suffix", [pytest.param(s, id=s) for s in (".m4a", ".aac", ".mp4", ".M4A")])
def test_aac_family_without_ffmpeg_says_to_install_ffmpeg(monkeypatch, suffix):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    with pytest.raises(AudioError, match=r"needs ffmpeg to decode.*install it") as info:
        clip_features(b"\x00\x00\x00\x20ftypM4A ", suffix, PARAMS)
    assert suffix.lower() in str(info.value)


def test_unknown_backend_is_a_value_error(encoded):
    with pytest.raises(ValueError, match=r"unknown feature backend 'jax'; choose one of librosa, torch"):
        clip_features(encoded[".wav"], ".wav", PARAMS, "jax")


def test_unknown_backend_is_rejected_before_decoding():
    # even undecodable bytes report the backend, not the audio
    with pytest.raises(ValueError, match="unknown feature backend"):
        clip_features(b"", ".wav", PARAMS, "numpy")
