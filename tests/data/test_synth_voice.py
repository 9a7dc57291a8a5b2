"""Behaviour of the synthetic voice: speaker profiles, clip format, determinism, pitch."""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np
import pytest

from v2f_bench.data.synth_voice import VoiceProfile, render_clip, sample_voice_profile


def _profile(gender: str, seed: int = 0) -> VoiceProfile:
    return sample_voice_profile(np.random.default_rng(seed), gender)


def _median_pitch(clip: np.ndarray, sample_rate: int) -> float:
    """Median YIN f0 over the louder half of the frames (a stand-in for 'voiced frames')."""
    f0 = librosa.yin(clip, fmin=60, fmax=400, sr=sample_rate, frame_length=1024, hop_length=256)
    rms = librosa.feature.rms(y=clip, frame_length=1024, hop_length=256)[0][: len(f0)]
    return float(np.median(f0[rms > np.median(rms)]))


def test_same_generator_state_gives_identical_samples():
    profile = _profile("f")
    first = render_clip(profile, np.random.default_rng(7), 2.0)
    second = render_clip(profile, np.random.default_rng(7), 2.0)
    assert np.array_equal(first, second)


def test_each_call_draws_new_content():
    profile = _profile("m")
    rng = np.random.default_rng(7)
    assert not np.allclose(render_clip(profile, rng, 1.0), render_clip(profile, rng, 1.0))


def test_global_random_state_is_neither_used_nor_touched():
    profile = _profile("m")
    np.random.seed(1)
    before = np.random.get_state()[1].copy()
    a = render_clip(profile, np.random.default_rng(3), 1.0)
    assert np.array_equal(np.random.get_state()[1], before)
    np.random.seed(2)
    assert np.array_equal(a, render_clip(profile, np.random.default_rng(3), 1.0))


def test_profile_sampling_is_deterministic():
    assert _profile("f", 5) == _profile("f", 5)
    assert _profile("f", 5) != _profile("f", 6)


@pytest.mark.parametrize(
    ("duration_s", "sample_rate"), [(2.5, 16000), (1.234, 22050), (0.01, 16000), (0.0, 16000)]
)
def test_clip_is_float32_mono_of_the_requested_length_and_bounded(duration_s, sample_rate):
    clip = render_clip(_profile("m"), np.random.default_rng(0), duration_s, sample_rate)
    assert clip.dtype == np.float32
    assert clip.shape == (round(duration_s * sample_rate),)
    assert np.all(np.isfinite(clip))
    assert np.max(np.abs(clip), initial=0.0) <= 0.99


def test_clips_are_audible_and_peaks_never_exceed_099():
    rng = np.random.default_rng(11)
    for gender in "mfmfmf":
        clip = render_clip(sample_voice_profile(rng, gender), rng, 1.5)
        assert 1e-3 < np.max(np.abs(clip)) <= 0.99


def test_profile_traits_fall_in_the_per_gender_ranges():
    rng = np.random.default_rng(0)
    males = [sample_voice_profile(rng, "m") for _ in range(300)]
    females = [sample_voice_profile(rng, "f") for _ in range(300)]
    assert all(85 <= p.f0_hz <= 155 and p.gender == "m" for p in males)
    assert all(165 <= p.f0_hz <= 255 and p.gender == "f" for p in females)
    male_scale = np.mean([p.formant_scale for p in males])
    female_scale = np.mean([p.formant_scale for p in females])
    assert 0.95 < male_scale < 1.05
    assert 1.12 < female_scale < 1.2
    for p in males + females:
        assert 0 <= p.breathiness < 0.5 and 0 <= p.nasality <= 1 and 0 <= p.spectral_tilt < 1
        assert 3 <= p.speaking_rate <= 6.5 and 0 < p.jitter < 0.05 and 0 < p.shimmer < 0.1


def test_same_gender_speakers_overlap_so_pitch_alone_is_not_an_identity():
    rng = np.random.default_rng(0)
    pitches = sorted(sample_voice_profile(rng, "f").f0_hz for _ in range(20))
    assert min(np.diff(pitches)) < 5.0


def test_unknown_gender_is_rejected():
    with pytest.raises(ValueError, match="gender"):
        sample_voice_profile(np.random.default_rng(0), "x")


def test_profile_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        _profile("m").f0_hz = 100.0


@pytest.mark.parametrize(("gender", "seed"), [("m", 1), ("f", 2), ("m", 3)])
def test_rendered_pitch_tracks_the_profile_mean_f0(gender, seed):
    profile = _profile(gender, seed)
    clip = render_clip(profile, np.random.default_rng(seed), 4.0)
    assert _median_pitch(clip, 16000) == pytest.approx(profile.f0_hz, rel=0.15)


def test_two_speakers_sound_different_under_the_same_draws():
    male, female = _profile("m", 4), _profile("f", 4)
    a = render_clip(male, np.random.default_rng(9), 3.0)
    b = render_clip(female, np.random.default_rng(9), 3.0)
    assert not np.allclose(a, b)
    assert _median_pitch(b, 16000) > 1.3 * _median_pitch(a, 16000)
