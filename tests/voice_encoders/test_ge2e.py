"""``ge2e`` on real VoxCeleb1 speech: prepared like the real corpus, its embeddings tell the speakers apart."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from v2f_bench.data.prepared import PrepareConfig, load_prepared, prepare
from v2f_bench.data.sources import resolve_sources
from v2f_bench.errors import UserError
from v2f_bench.voice_encoders.ge2e import GE2E, window_audio
from tests.data.test_prepared import PARTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_prepared(tmp_path_factory):
    """The real clips laid out as VoxCeleb1 (three parts each), with synthetic VGGFace1 photos for the same names, prepared."""
    from tests.data.test_prepared import expected_windows, lay_out_real_vox1

    root = tmp_path_factory.mktemp("real_vox1") / "raw"
    rows = lay_out_real_vox1(root)
    voices = root / "voxceleb1"
    out = root.parent / "prepared"
    prepare(resolve_sources(root, None, None), out, PrepareConfig())
    prepared = load_prepared(out)
    expected = {str(p.relative_to(voices)): expected_windows(p) for p in sorted((voices / "wav").rglob("*.wav"))}
    return prepared, rows, expected


def test_the_real_clips_prepare_as_voxceleb1_with_every_part_a_clip(real_prepared):
    prepared, rows, expected = real_prepared
    manifest = prepared.manifest
    assert manifest["sources"]["voice_format"] == "voxceleb1" and manifest["skipped"] == []
    assert len(manifest["identities"]) == len(rows) and len(manifest["clips"]) == len(rows) * PARTS
    assert {c["file"]: c["n_windows"] for c in manifest["clips"]} == expected
    assert len(prepared.voice_features) == sum(expected.values())


def test_ge2e_windows_are_the_prepared_time_spans_at_16_khz(real_prepared):
    prepared, _, _ = real_prepared
    audio = np.concatenate(list(window_audio(prepared, batch=5)))
    assert audio.shape == (len(prepared.voice_features), round(20480 * 16000 / 22050))
    clip = prepared.manifest["clips"][0]
    source, rate = sf.read(Path(prepared.manifest["sources"]["voice_root"]) / clip["file"], dtype="float32")
    assert rate == 16000
    second = audio[clip["first_window"] + 1] if clip["n_windows"] > 1 else audio[clip["first_window"]]
    start = round(10240 * 16000 / 22050) if clip["n_windows"] > 1 else 0
    scale = np.abs(second).max() / np.abs(source[start : start + audio.shape[1]]).max()  # volume normalisation scales the whole clip
    np.testing.assert_allclose(second, source[start : start + audio.shape[1]] * scale, atol=1e-3)


def test_ge2e_embeddings_tell_the_real_speakers_apart(real_prepared):
    prepared, rows, _ = real_prepared
    windows, clips = GE2E().embed(prepared)
    np.testing.assert_allclose(np.linalg.norm(windows, axis=1), 1.0, rtol=1e-5)
    speaker = np.array([c["voice_id"] for c in prepared.manifest["clips"]])
    unit = clips / np.linalg.norm(clips, axis=1, keepdims=True)
    cosine = unit @ unit.T
    same = speaker[:, None] == speaker[None, :]
    off_diagonal = ~np.eye(len(speaker), dtype=bool)
    same_mean, other_mean = cosine[same & off_diagonal].mean(), cosine[~same].mean()
    assert same_mean > other_mean + 0.1, (same_mean, other_mean)
    nearest = np.where(off_diagonal, cosine, -np.inf).argmax(1)
    accuracy = (speaker[nearest] == speaker).mean()
    chance = (PARTS - 1) / (len(speaker) - 1)
    print(f"ge2e on {len(speaker)} real clips: same-speaker cosine {same_mean:.3f}, other {other_mean:.3f}, "
          f"nearest-neighbour speaker accuracy {accuracy:.2f} (chance {chance:.2f})")
    assert accuracy >= 0.6 > 3 * chance


def test_a_moved_or_changed_source_clip_is_a_one_line_error_and_another_folder_can_be_given(real_prepared, tmp_path):
    prepared, _, _ = real_prepared
    source = Path(prepared.manifest["sources"]["voice_root"])
    moved = Path(shutil.copytree(source, tmp_path / "moved"))
    first = prepared.manifest["clips"][0]["file"]
    np.testing.assert_array_equal(np.concatenate(list(window_audio(prepared, moved))), np.concatenate(list(window_audio(prepared))))
    (moved / first).unlink()
    with pytest.raises(UserError, match=f"{first}: the voice clip the prepared dataset was made from is not there; re-run prepare") as info:
        GE2E(audio_root=moved).embed(prepared)
    assert "\n" not in str(info.value)
    samples, rate = sf.read(source / first, dtype="int16")
    sf.write(moved / first, samples[::-1], rate, subtype="PCM_16")
    with pytest.raises(UserError, match="SHA-256 mismatch.*pass the folder the clips are in now"):
        GE2E(audio_root=moved).embed(prepared)
