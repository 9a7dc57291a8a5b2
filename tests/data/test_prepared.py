"""Preparation: what lands in a prepared dataset, what is skipped and why, caching, Ray, atomic writes."""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from threadpoolctl import threadpool_limits

from v2f_bench.data import layouts
from v2f_bench.data.audio import FeatureParams, clip_features
from v2f_bench.data.prepared import CLIPS_PER_CALL, MANIFEST, PrepareConfig, format_summary, load_prepared, prepare, voice_features
from v2f_bench.data.records import Clip
from v2f_bench.data.sources import resolve_sources
from v2f_bench.data.synth import SMALL, SynthConfig, synth_identities
from v2f_bench.data.synth_face import render_photo, sample_face_profile
from v2f_bench.errors import UserError
from tests.conftest import SHARED_DATA

N_IDS = SMALL["identities"]
N_CLIPS = N_IDS * SMALL["clips_per_identity"]
N_PHOTOS = N_IDS * SMALL["photos_per_identity"]


def run(root: Path, out: Path, address: str | None = None, **config) -> dict:
    return prepare(resolve_sources(root, None, None), out, PrepareConfig(**config), address=address).manifest


def first_clip(root: Path, suffix: str = ".wav") -> Path:
    return sorted((root / "voxceleb2" / "dev" / "aac" / "id00234").rglob(f"*{suffix}"))[0]


def plant_faceless_photo(root: Path) -> Path:
    """A photo of background only, with no box row, so that MTCNN has to look for a face and finds none."""
    rng = np.random.default_rng(0)
    gradient = np.linspace(40, 220, 200)[None, :, None] * np.ones((180, 1, 3))
    pixels = np.clip(gradient + rng.normal(0, 8, gradient.shape), 0, 255).astype(np.uint8)
    path = root / "vggface2" / "train" / "n000234" / "0099_01.jpg"
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def prepared(small_raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "ds"
    run(small_raw, out)
    return out


def test_every_clip_and_photo_lands_in_the_arrays(prepared):
    ds = load_prepared(prepared, verify=True)
    summary = ds.manifest["summary"]
    assert (summary["identities"], summary["clips"], summary["photos"]) == (N_IDS, N_CLIPS, N_PHOTOS)
    assert ds.voice_features.shape == (summary["windows"], 60, 41, 2) and ds.voice_features.dtype == np.float32
    assert np.isfinite(ds.voice_features).all()
    assert ds.faces(64).shape == (N_PHOTOS, 64, 64, 3) and ds.faces(96).shape == (N_PHOTOS, 96, 96, 3)
    assert ds.faces(64).dtype == np.uint8 and ds.faces(64).reshape(N_PHOTOS, -1).max(axis=1).min() == 255
    assert sorted(set(ds.arrays["window_label.npy"].tolist())) == list(range(N_IDS))
    assert ds.manifest["skipped"] == []
    assert len(ds.manifest["meta_identities_not_on_disk"]) == SMALL["absent_meta_rows"], "listed, not counted as skipped"


def test_the_manifest_traces_each_item_to_its_source_file_and_hash(prepared, small_raw):
    manifest = json.loads((prepared / MANIFEST).read_text())
    clip = manifest["clips"][0]
    assert set(clip) >= {"voice_id", "file", "sha256", "split", "n_windows", "first_window"}
    assert (small_raw / "voxceleb2" / clip["file"]).is_file()
    window_clip = np.load(prepared / "window_clip.npy")
    assert (window_clip[clip["first_window"] : clip["first_window"] + clip["n_windows"]] == clip["index"]).all()
    photo = manifest["photos"][0]
    assert photo["found_by"] == "landmarks" and (small_raw / "vggface2" / photo["file"]).is_file()
    assert manifest["params"]["features"]["sample_rate"] == 22050 and manifest["params"]["protocol"] == "paper"
    shards = manifest["shards"]
    assert shards["faces"]["columns"] == {"face_64": [64, 64, 3], "face_96": [96, 96, 3]}
    for part in shards["voice"]["files"] + shards["faces"]["files"]:
        assert manifest["outputs"][part["file"]] == part["sha256"], "every shard has its checksum"
    by_id = {row["voice_id"]: row for row in manifest["identities"]}
    assert by_id["id03258"]["face_id"] == "n003257"


def test_the_paper_protocol_keeps_each_clip_on_one_side(prepared):
    ds = load_prepared(prepared)
    clip_split = {c["index"]: c["split"] for c in ds.manifest["clips"]}
    windows = zip(ds.arrays["window_clip.npy"].tolist(), ds.arrays["window_split.npy"].tolist())
    assert all(clip_split[c] == s for c, s in windows)
    for label in range(N_IDS):
        assert set(ds.arrays["window_split.npy"][ds.arrays["window_label.npy"] == label]) == {"train", "val", "test"}


def test_the_same_inputs_and_parameters_reuse_the_result(prepared, small_raw):
    before = {p.name: p.stat().st_mtime_ns for p in prepared.iterdir()}
    result = prepare(resolve_sources(small_raw, None, None), prepared, PrepareConfig())
    assert result.reused and "reused" in format_summary(result)
    assert {p.name: p.stat().st_mtime_ns for p in prepared.iterdir()} == before


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"seed": 1}, id="split-seed"),
        pytest.param({"protocol": "paper-code"}, id="protocol"),
        pytest.param({"backend": "torch"}, id="feature-backend"),
    ],
)
def test_a_changed_parameter_recomputes(prepared, small_raw, tmp_path, change):
    out = tmp_path / "ds"
    first = run(small_raw, out)
    second = run(small_raw, out, **change)
    assert first["cache_key"] != second["cache_key"]
    assert json.loads((out / MANIFEST).read_text())["params"][next(iter(change))] == next(iter(change.values()))


def test_a_changed_input_file_recomputes(raw_copy, tmp_path):
    out = tmp_path / "ds"
    first = run(raw_copy, out)
    clip = first_clip(raw_copy)
    samples, rate = sf.read(clip)
    sf.write(clip, samples * 0.5, rate, subtype="PCM_16")
    second = run(raw_copy, out)
    assert first["cache_key"] != second["cache_key"]
    changed = [c for c in second["clips"] if (raw_copy / "voxceleb2" / c["file"]) == clip]
    assert changed[0]["sha256"] != next(c["sha256"] for c in first["clips"] if c["file"] == changed[0]["file"])


def test_a_damaged_output_is_recomputed_not_reused(raw_copy, tmp_path):
    out = tmp_path / "ds"
    run(raw_copy, out)
    (out / "faces" / "part-00000.parquet").write_bytes(b"damaged")
    result = prepare(resolve_sources(raw_copy, None, None), out, PrepareConfig())
    assert not result.reused
    load_prepared(out, verify=True)


def test_a_planted_corrupt_clip_and_faceless_photo_are_skipped_with_reasons_and_nothing_else(raw_copy, tmp_path):
    clip = first_clip(raw_copy)
    clip.write_bytes(np.random.default_rng(1).bytes(5000))
    photo = plant_faceless_photo(raw_copy)
    manifest = run(raw_copy, tmp_path / "ds")
    skipped = {(s["kind"], s["item"]): s["reason"] for s in manifest["skipped"]}
    assert set(skipped) == {
        ("clip", clip.relative_to(raw_copy / "voxceleb2").as_posix()),
        ("photo", photo.relative_to(raw_copy / "vggface2").as_posix()),
    }
    assert "cannot decode audio" in skipped["clip", clip.relative_to(raw_copy / "voxceleb2").as_posix()]
    assert skipped["photo", photo.relative_to(raw_copy / "vggface2").as_posix()] == "no face found (MTCNN)"
    assert manifest["summary"]["clips"] == N_CLIPS - 1 and manifest["summary"]["photos"] == N_PHOTOS
    assert manifest["summary"]["skipped"] == {"clip": 1, "photo": 1}


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _too_short(path: Path) -> None:
    sf.write(path, np.zeros(8000, dtype=np.float32), 16000, format="WAV")


def _text(path: Path) -> None:
    path.write_text("this is not audio, just a text file with a .wav name\n")


@pytest.mark.parametrize(
    "damage, reason",
    [
        pytest.param(_empty, "empty file", id="empty"),
        pytest.param(_too_short, "too short", id="too-short"),
        pytest.param(_text, "cannot decode audio", id="text-named-wav"),
    ],
)
def test_each_bad_clip_is_skipped_with_its_reason(raw_copy, tmp_path, damage, reason):
    clip = first_clip(raw_copy)
    damage(clip)
    manifest = run(raw_copy, tmp_path / "ds")
    assert [(s["kind"], reason in s["reason"]) for s in manifest["skipped"]] == [("clip", True)]


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def _not_an_image(path: Path) -> None:
    path.write_text("<html>not found</html>")


@pytest.mark.parametrize(
    "damage, reason",
    [
        pytest.param(_truncated, "unreadable image", id="truncated-jpg"),
        pytest.param(_not_an_image, "unreadable image", id="html-named-jpg"),
        pytest.param(_empty, "empty file", id="empty-jpg"),
    ],
)
def test_each_bad_photo_is_skipped_with_its_reason(raw_copy, tmp_path, damage, reason):
    photo = sorted((raw_copy / "vggface2" / "train" / "n000234").glob("*.jpg"))[0]
    damage(photo)
    manifest = run(raw_copy, tmp_path / "ds")
    assert [(s["kind"], reason in s["reason"]) for s in manifest["skipped"]] == [("photo", True)]


def test_a_wanted_identity_absent_on_disk_and_one_with_too_few_samples_are_skipped(raw_copy, tmp_path):
    clips = sorted((raw_copy / "voxceleb2" / "dev" / "aac" / "id03258").rglob("*.*"))
    for clip in clips[2:]:
        clip.unlink()
    absent = synth_identities(SynthConfig(**SMALL))[N_IDS].voice_id
    manifest = run(raw_copy, tmp_path / "ds", identities=f"id00234,id03258,id04064,{absent}")
    reasons = {s["item"]: s["reason"] for s in manifest["skipped"] if s["kind"] == "identity"}
    assert "no clips on disk" in reasons[absent]
    assert "2 clips, fewer than min_clips=3" in reasons["id03258"]
    assert [row["voice_id"] for row in manifest["identities"]] == ["id00234", "id04064"]
    files = [s["item"] for s in manifest["skipped"] if s["reason"].startswith("identity id03258 is skipped: 2 clips")]
    assert len(files) == 2 + SMALL["photos_per_identity"], "the files of a skipped identity are listed with it"


FOURTH_VOICE, FOURTH_FACE = "id04517", "n004516"
"""The fourth synthetic identity, whose folders the table below damages."""


def dataset_files(root: Path) -> set[tuple[str, str]]:
    """(kind, path relative to its dataset root) of every visible file in both trees."""
    trees = [("clip", root / "voxceleb2", "dev/aac"), ("photo", root / "vggface2", "train")]
    return {
        (kind, path.relative_to(base).as_posix())
        for kind, base, sub in trees
        for path in (base / sub).rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }


def assert_every_file_is_used_or_skipped(root: Path, manifest: dict) -> None:
    used = {("clip", c["file"]) for c in manifest["clips"]} | {("photo", p["file"]) for p in manifest["photos"]}
    skipped = [(s["kind"], s["item"]) for s in manifest["skipped"] if s["kind"] in ("clip", "photo")]
    assert len(skipped) == len(set(skipped)), "no file is listed twice"
    assert not used & set(skipped)
    assert used | set(skipped) == dataset_files(root), "a file on disk is neither in the dataset nor listed as skipped"


def drop_meta_row(root: Path) -> None:
    meta = root / "voxceleb2" / "vox2_meta.csv"
    rows = meta.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    meta.write_text("".join(row for row in rows if not row.startswith(FOURTH_VOICE)), encoding="utf-8-sig")


def drop_face_folder(root: Path) -> None:
    shutil.rmtree(root / "vggface2" / "train" / FOURTH_FACE)


def drop_voice_folder(root: Path) -> None:
    shutil.rmtree(root / "voxceleb2" / "dev" / "aac" / FOURTH_VOICE)


def misname_voice_folder(root: Path) -> None:
    audio = root / "voxceleb2" / "dev" / "aac"
    (audio / FOURTH_VOICE).rename(audio / "speaker_04517")


def add_face_class_without_identity_meta_row(root: Path) -> None:
    train = root / "vggface2" / "train"
    shutil.copytree(train / FOURTH_FACE, train / "n009999")


def keep_two_clips(root: Path) -> None:
    for clip in sorted((root / "voxceleb2" / "dev" / "aac" / FOURTH_VOICE).rglob("*.*"))[2:]:
        clip.unlink()


def keep_two_photos(root: Path) -> None:
    for photo in sorted((root / "vggface2" / "train" / FOURTH_FACE).glob("*.jpg"))[2:]:
        photo.unlink()


def no_damage(root: Path) -> None:
    """The tree as written; the configuration does the dropping."""


CLIPS, PHOTOS = SMALL["clips_per_identity"], SMALL["photos_per_identity"]


@pytest.mark.parametrize(
    "damage, config, identities, counts, kept",
    [
        pytest.param(
            drop_meta_row, {},
            {FOURTH_VOICE: "folder dev/aac/id04517 has no row in vox2_meta.csv",
             FOURTH_FACE: "face id that no row of vox2_meta.csv names: it joins no voice"},
            {"identity": 2, "clip": CLIPS, "photo": PHOTOS}, N_IDS - 1, id="voice-folder-without-meta-row",
        ),
        pytest.param(
            drop_face_folder, {}, {FOURTH_VOICE: "face id n004516 has no photos on disk"},
            {"identity": 1, "clip": CLIPS}, N_IDS - 1, id="voice-without-face",
        ),
        pytest.param(
            drop_voice_folder, {}, {FOURTH_VOICE: "no clips on disk"},
            {"identity": 1, "photo": PHOTOS}, N_IDS - 1, id="face-without-voice",
        ),
        pytest.param(
            misname_voice_folder, {},
            {"dev/aac/speaker_04517": "folder name is not a VoxCeleb id", FOURTH_VOICE: "no clips on disk"},
            {"identity": 2, "clip": CLIPS, "photo": PHOTOS}, N_IDS - 1, id="misnamed-voice-folder",
        ),
        pytest.param(
            add_face_class_without_identity_meta_row, {}, {"n009999": "class folder has no row in identity_meta.csv"},
            {"identity": 1, "photo": PHOTOS}, N_IDS, id="face-class-without-identity-meta-row",
        ),
        pytest.param(
            keep_two_clips, {}, {FOURTH_VOICE: "2 clips, fewer than min_clips=3"},
            {"identity": 1, "clip": 2, "photo": PHOTOS}, N_IDS - 1, id="min-clips",
        ),
        pytest.param(
            keep_two_photos, {}, {FOURTH_VOICE: "face id n004516 has 2 photos, fewer than min_photos=3"},
            {"identity": 1, "clip": CLIPS, "photo": 2}, N_IDS - 1, id="min-photos",
        ),
        pytest.param(
            no_damage, {"max_identities": N_IDS - 1}, {FOURTH_VOICE: f"{CLIPS} clips: not among the {N_IDS - 1} with most clips"},
            {"identity": 1, "clip": CLIPS, "photo": PHOTOS}, N_IDS - 1, id="max-identities",
        ),
    ],
)
def test_every_dropped_folder_and_file_is_counted_printed_and_listed(raw_copy, tmp_path, damage, config, identities, counts, kept):
    damage(raw_copy)
    result = prepare(resolve_sources(raw_copy, None, None), tmp_path / "ds", PrepareConfig(**config))
    manifest = result.manifest
    assert manifest["summary"]["identities"] == kept
    assert manifest["summary"]["skipped"] == counts
    reasons = {s["item"]: s["reason"] for s in manifest["skipped"] if s["kind"] == "identity"}
    assert set(reasons) == set(identities)
    for item, part in identities.items():
        assert part in reasons[item]
    assert_every_file_is_used_or_skipped(raw_copy, manifest)
    assert all(s["reason"] for s in manifest["skipped"])
    printed = format_summary(result)
    listed = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    assert f"skipped {sum(counts.values())} items ({listed})" in printed
    for item in identities:
        assert f"identity {item}: " in printed
    assert FOURTH_VOICE not in manifest["meta_identities_not_on_disk"], "what was on disk is skipped, not called absent"


def test_a_folder_added_after_a_run_is_listed_not_hidden_by_reusing_the_run(raw_copy, tmp_path):
    out = tmp_path / "ds"
    run(raw_copy, out)
    audio = raw_copy / "voxceleb2" / "dev" / "aac"
    shutil.copytree(audio / FOURTH_VOICE, audio / "id09999")
    result = prepare(resolve_sources(raw_copy, None, None), out, PrepareConfig())
    assert not result.reused, "the list of skips is part of what the result records"
    skipped = {(s["kind"], s["item"]) for s in result.manifest["skipped"]}
    assert ("identity", "id09999") in skipped
    assert_every_file_is_used_or_skipped(raw_copy, result.manifest)


def test_the_same_data_under_another_path_still_reuses_the_run(raw_copy, tmp_path):
    """Skip reasons name the data root ("no clips on disk under ..."); the cache key must not."""
    drop_voice_folder(raw_copy)
    out = tmp_path / "ds"
    first = run(raw_copy, out)
    assert any(str(raw_copy) in s["reason"] for s in first["skipped"])
    moved = raw_copy.rename(tmp_path / "moved")
    assert prepare(resolve_sources(moved, None, None), out, PrepareConfig()).reused


def test_an_identity_left_with_too_few_usable_clips_after_skips_is_dropped_with_all_its_files(raw_copy, tmp_path):
    clips = sorted((raw_copy / "voxceleb2" / "dev" / "aac" / "id00234").rglob("*.*"))
    for clip in clips[:3]:
        clip.write_bytes(b"")
    manifest = run(raw_copy, tmp_path / "ds")
    assert "id00234" not in {row["voice_id"] for row in manifest["identities"]}
    reasons = {(s["kind"], s["item"]): s["reason"] for s in manifest["skipped"]}
    assert len(reasons) == len(manifest["skipped"]) == 1 + len(clips) + SMALL["photos_per_identity"]
    assert "too few usable items" in reasons["identity", "id00234"]
    rels = [clip.relative_to(raw_copy / "voxceleb2").as_posix() for clip in clips]
    assert all(reasons["clip", rel].startswith("empty file") for rel in rels[:3])
    because = "identity id00234 is skipped: too few usable items"
    assert all(reasons["clip", rel].startswith(because) for rel in rels[3:]), "its usable clips leave with it, listed"
    photos = [reason for (kind, item), reason in reasons.items() if kind == "photo" and item.startswith("train/n000234/")]
    assert len(photos) == SMALL["photos_per_identity"] and all(r.startswith(because) for r in photos)
    assert manifest["summary"]["clips"] + len(clips) == N_CLIPS and manifest["summary"]["photos"] + len(photos) == N_PHOTOS


def by_clip(ds) -> dict[str, np.ndarray]:
    return {c["file"]: ds.voice_features[c["first_window"] : c["first_window"] + c["n_windows"]] for c in ds.manifest["clips"]}


def by_photo(ds, size: int) -> dict[str, np.ndarray]:
    return {p["file"]: ds.faces(size)[p["index"]] for p in ds.manifest["photos"]}


def test_shards_are_dealt_round_robin_hold_the_same_rows_and_lose_the_rows_of_a_dropped_identity(raw_copy, tmp_path):
    clips = sorted((raw_copy / "voxceleb2" / "dev" / "aac" / "id00234").rglob("*.*"))
    for clip in clips[:3]:
        clip.write_bytes(b"")
    run(raw_copy, tmp_path / "whole")
    manifest = run(raw_copy, tmp_path / "small", shard_clips=3, shard_photos=4)
    run(raw_copy, tmp_path / "single", shard_clips=1)
    whole, small = load_prepared(tmp_path / "whole", verify=True), load_prepared(tmp_path / "small", verify=True)
    parts = manifest["shards"]["voice"]["files"]
    assert len(parts) == -(-N_CLIPS // 3) and len(small.shard_files("faces")) == -(-N_PHOTOS // 4)
    assert len(load_prepared(tmp_path / "single").shard_files("voice")) == N_CLIPS - len(clips), "a shard left with no kept row is removed"
    mine, theirs = by_clip(small), by_clip(whole)
    assert mine.keys() == theirs.keys() and all(np.array_equal(mine[k], theirs[k]) for k in mine)
    mine, theirs = by_photo(small, 96), by_photo(whole, 96)
    assert mine.keys() == theirs.keys() and all(np.array_equal(mine[k], theirs[k]) for k in mine)
    assert [p["first"] for p in parts] == np.cumsum([0] + [p["rows"] for p in parts[:-1]]).tolist()
    window_clip, window_label = small.arrays["window_clip.npy"], small.arrays["window_label.npy"]
    for part in parts:  # each shard holds the windows of at most shard_clips clips, of different identities (round-robin)
        rows = slice(part["first"], part["first"] + part["rows"])
        assert len(set(window_clip[rows].tolist())) <= 3 and len(set(window_label[rows].tolist())) > 1


def test_a_meta_file_in_the_wrong_format_is_one_clear_error(raw_copy, tmp_path):
    (raw_copy / "voxceleb2" / "vox2_meta.csv").write_text("VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n")
    with pytest.raises(UserError, match="vox2_meta.csv") as error:
        run(raw_copy, tmp_path / "ds")
    assert "\n" not in str(error.value)


def test_nothing_usable_is_one_clear_error_and_writes_nothing(raw_copy, tmp_path):
    for clip in (raw_copy / "voxceleb2").rglob("*.wav"):
        clip.write_bytes(b"")
    for clip in (raw_copy / "voxceleb2").rglob("*.mp3"):
        clip.write_bytes(b"")
    with pytest.raises(UserError, match="nothing usable remains"):
        run(raw_copy, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_a_failed_write_leaves_the_earlier_result_intact(raw_copy, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    run(raw_copy, out)
    before = (out / MANIFEST).read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    with pytest.raises(UserError, match="No space left on device"):
        run(raw_copy, out, seed=5)
    assert (out / MANIFEST).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_out_directory_with_foreign_files_is_refused(small_raw, tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        run(small_raw, tmp_path / "ds")
    assert (tmp_path / "ds" / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_ray_fan_out_writes_the_same_dataset_as_a_local_run(prepared, small_raw, tmp_path, ray_shared):
    manifest = run(small_raw, tmp_path / "ds", address="auto")
    local = json.loads((prepared / MANIFEST).read_text())
    assert manifest["outputs"] == local["outputs"]
    assert manifest["cache_key"] == local["cache_key"]


def clips_with_bad_ones(root: Path, tmp_path: Path) -> list[Clip]:
    """The tiny dataset's clips with an unreadable and an undecodable clip among them, in the first batch of clips."""
    clips = [clip for group in layouts.scan_voxceleb2(root / "voxceleb2").clips.values() for clip in group]
    noise = tmp_path / "noise.wav"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    clips.insert(1, Clip("id00000", tmp_path / "missing.wav", "v", "missing.wav"))
    clips.insert(3, Clip("id00000", noise, "v", "noise.wav"))
    return clips


@pytest.mark.parametrize("backend", ["librosa", "torch"])
def test_voice_features_of_clips_in_batches_are_each_clip_alone(small_raw, tmp_path, backend):
    clips = clips_with_bad_ones(small_raw, tmp_path)
    assert len(clips) > CLIPS_PER_CALL, "several batches, the last one partial"
    features = voice_features(clips, FeatureParams(), backend, None)
    assert len(features) == len(clips)
    assert features[1].startswith("cannot read file") and features[3].startswith("cannot decode audio")
    with threadpool_limits(limits=1):  # as in preparation: BLAS's summation order depends on its thread count
        for i, clip in enumerate(clips):
            if i not in (1, 3):
                np.testing.assert_array_equal(features[i], clip_features(clip.path.read_bytes(), clip.path.suffix, FeatureParams(), backend))


@pytest.mark.slow
def test_ray_fan_out_of_torch_features_is_byte_identical_to_a_local_run(small_raw, tmp_path, ray_shared):
    clips = clips_with_bad_ones(small_raw, tmp_path)
    local = voice_features(clips, FeatureParams(), "torch", None)
    on_ray = voice_features(clips, FeatureParams(), "torch", "auto")
    assert [f for f in local if isinstance(f, str)] == [f for f in on_ray if isinstance(f, str)]
    for a, b in zip(local, on_ray):
        if not isinstance(a, str):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_a_prepared_dataset_refuses_to_load_when_damaged(raw_copy, tmp_path):
    out = tmp_path / "ds"
    run(raw_copy, out)
    with open(out / "voice" / "part-00000.parquet", "r+b") as handle:
        handle.seek(-4, os.SEEK_END)
        handle.write(b"\x00\x01\x02\x03")
    load_prepared(out)
    with pytest.raises(UserError, match="does not match its hash"):
        load_prepared(out, verify=True)


def test_config_validation_names_the_bad_value():
    with pytest.raises(UserError, match="--backend"):
        replace(PrepareConfig(), backend="numpy").validate()


# --------------------------------------------------------------------------------------------
# Real VoxCeleb1 audio

VOXCELEB_EXAMPLES = SHARED_DATA / "voxceleb_examples"
"""Seven real VoxCeleb1 utterances, one per speaker, and their rows of vox1_meta.csv (see its README)."""
PARTS = 3
"""Each utterance is cut into this many clips: the shortest (3.9 s) still gives one 0.93 s window per part."""
PHOTOS_EACH = 3


def lay_out_real_vox1(root: Path) -> list[list[str]]:
    """The real clips under ``root`` laid out as VoxCeleb1 (each cut into ``PARTS`` clips over two
    videos), with synthetic VGGFace1 photos for the same names; returns their meta rows. Skips the
    test when the examples folder is absent."""
    if not VOXCELEB_EXAMPLES.is_dir():
        pytest.skip(f"{VOXCELEB_EXAMPLES} is absent")
    header, *lines = (VOXCELEB_EXAMPLES / "vox1_meta_rows.csv").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines if line.strip()]
    voices, faces = root / "voxceleb1", root / "vggface1"
    voices.mkdir(parents=True)
    (voices / "vox1_meta.csv").write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    for k, (voice_id, name, gender, *_) in enumerate(rows):
        samples, rate = sf.read(VOXCELEB_EXAMPLES / f"{name}.wav", dtype="int16")
        for n, part in enumerate(np.array_split(samples, PARTS), start=1):
            folder = voices / "wav" / voice_id / f"video{n % 2}"
            folder.mkdir(parents=True, exist_ok=True)
            sf.write(folder / f"{n:05d}.wav", part, rate, subtype="PCM_16")
        write_vggface1_photos(faces, name, gender, k)
    return rows


@pytest.fixture(scope="module")
def real_vox1(tmp_path_factory) -> tuple[Path, list[list[str]]]:
    """A data root of the real clips laid out as VoxCeleb1, with synthetic VGGFace1 photos for the same names."""
    root = tmp_path_factory.mktemp("real_vox1") / "raw"
    return root, lay_out_real_vox1(root)


def write_vggface1_photos(faces: Path, name: str, gender: str, k: int) -> None:
    """``files/<name>.txt`` listing PHOTOS_EACH synthetic photos by box, and the photos in ``images/<name>/``."""
    profile = sample_face_profile(np.random.default_rng([k]), gender)
    (faces / "images" / name).mkdir(parents=True)
    (faces / "files").mkdir(exist_ok=True)
    lines = []
    for n in range(1, PHOTOS_EACH + 1):
        image, (x, y, w, h), _ = render_photo(profile, np.random.default_rng([k, n]))
        image.save(faces / "images" / name / f"{n:08d}.jpg", quality=90)
        lines.append(f"{n:08d} http://example.invalid/{n}.jpg {x:.2f} {y:.2f} {x + w:.2f} {y + h:.2f} 1.00 3.00 1")
    (faces / "files" / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def expected_windows(path: Path) -> int:
    """Full windows after resampling to 22,050 Hz, counted from the file's length alone."""
    params = FeatureParams()
    n = math.ceil(sf.info(path).frames * params.sample_rate / sf.info(path).samplerate)
    return 1 + (n - params.window) // params.hop


def test_real_voxceleb1_clips_prepare_into_the_papers_features_with_nothing_skipped(real_vox1, tmp_path):
    root, rows = real_vox1
    manifest = run(root, tmp_path / "ds")
    ds = load_prepared(tmp_path / "ds", verify=True)
    assert manifest["sources"]["voice_format"] == "voxceleb1" and manifest["sources"]["face_format"] == "vggface1"
    assert manifest["skipped"] == [] and manifest["meta_identities_not_on_disk"] == []
    assert [(i["voice_id"], i["face_id"], i["gender"]) for i in manifest["identities"]] == [(v, n, g) for v, n, g, *_ in rows]
    wav = root / "voxceleb1"
    for voice_id, *_ in rows:
        on_disk = sorted(p.relative_to(wav).as_posix() for p in (wav / "wav" / voice_id).rglob("*.wav"))
        assert sorted(c["file"] for c in manifest["clips"] if c["voice_id"] == voice_id) == on_disk and len(on_disk) == PARTS
    for clip in manifest["clips"]:
        assert clip["n_windows"] == expected_windows(wav / clip["file"])
    windows = sum(c["n_windows"] for c in manifest["clips"])
    assert ds.voice_features.shape == (windows, 60, 41, 2) and ds.voice_features.dtype == np.float32
    assert np.isfinite(ds.voice_features).all() and ds.voice_features[..., 0].std() > 1.0, "real speech, not silence"
    first = manifest["clips"][0]
    with threadpool_limits(limits=1):
        reference = clip_features((wav / first["file"]).read_bytes(), ".wav", FeatureParams())
    np.testing.assert_array_equal(ds.voice_features[first["first_window"] : first["first_window"] + first["n_windows"]], reference)
    assert ds.faces(64).shape == (len(rows) * PHOTOS_EACH, 64, 64, 3)
    assert {p["found_by"] for p in manifest["photos"]} == {"box"}
    for label in range(len(rows)):
        assert set(ds.arrays["window_split.npy"][ds.arrays["window_label.npy"] == label]) == {"train", "val", "test"}


@pytest.mark.parametrize(
    "protocol, message",
    [
        pytest.param("wen", r"--protocol wen: 7 identities give 1 train, 1 val and 5 test identities; .*A-E", id="wen-five-A-to-E-names"),
        pytest.param("sf2f", r"--protocol sf2f: 7 identities give 7 train, 0 val and 0 test identities; .*20 rows or more", id="sf2f-seven-rows"),
    ],
)
def test_peer_rules_read_the_real_vggface1_names_and_meta_rows_and_refuse_seven_speakers_at_once(real_vox1, tmp_path, protocol, message):
    """Five of the seven real speakers' VGGFace1 names start with A-E (Wen's test identities), leaving two for val and
    train; their meta rows are 0-6, none of them SF2F's test (8) or val (9). Refused before any feature is computed."""
    root, _ = real_vox1
    with pytest.raises(UserError, match=message):
        run(root, tmp_path / "ds", protocol=protocol)
    assert not (tmp_path / "ds").exists()
