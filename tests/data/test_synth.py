"""The embedded synthetic dataset: real layouts and meta quirks, readable by the real readers, deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from v2f_bench.data import layouts
from v2f_bench.data.synth import AGARWAL9, SMALL, SynthConfig, synth_identities, write_synth
from v2f_bench.errors import UserError
from v2f_bench.hashing import sha256_file


def _tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_the_same_bytes_whatever_the_number_of_processes(small_raw, tmp_path):
    again = tmp_path / "again"
    write_synth(again, SynthConfig(**SMALL), workers=1)
    assert _tree_hashes(again) == _tree_hashes(small_raw)


def test_another_seed_gives_other_clips_and_photos(small_raw, tmp_path):
    other = tmp_path / "other"
    write_synth(other, SynthConfig(**{**SMALL, "seed": 1}))
    mine, theirs = _tree_hashes(small_raw), _tree_hashes(other)
    media = [name for name in mine if name.endswith((".wav", ".mp3", ".jpg"))]
    assert sum(mine[name] != theirs.get(name) for name in media) == len(media)


def test_the_voice_meta_file_has_the_real_quirks(small_raw):
    raw = (small_raw / "voxceleb2" / "vox2_meta.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == "VoxCeleb2 ID,VGGFace2 ID,Gender,Set"
    assert all(value.endswith(" ") for line in lines[1:] for value in line.split(","))
    identities, skipped = layouts.read_vox2_meta(small_raw / "voxceleb2" / "vox2_meta.csv")
    assert skipped == []
    assert identities["id03258"].face_id == "n003257"


def test_the_real_readers_read_it_whole(small_raw):
    voices = layouts.scan_voxceleb2(small_raw / "voxceleb2")
    faces = layouts.scan_vggface2(small_raw / "vggface2")
    n = SMALL["identities"]
    assert voices.skipped == [] and faces.skipped == []
    assert sorted(voices.clips) == [v for v, _, _ in AGARWAL9[:n]]
    assert all(len(clips) == SMALL["clips_per_identity"] for clips in voices.clips.values())
    assert len(voices.identities) == n + SMALL["absent_meta_rows"]
    assert len(layouts.meta_ids_not_on_disk(voices, faces)) == SMALL["absent_meta_rows"]
    assert sorted(faces.photos) == sorted(voices.identities[v].face_id for v in voices.clips)
    photos = [p for group in faces.photos.values() for p in group]
    assert len(photos) == n * SMALL["photos_per_identity"]
    assert all(p.box is not None and p.landmarks is not None and len(p.landmarks) == 5 for p in photos)


def test_clips_come_in_two_real_encodings_inside_video_folders(small_raw):
    clips = [c for group in layouts.scan_voxceleb2(small_raw / "voxceleb2").clips.values() for c in group]
    assert {c.path.suffix for c in clips} == {".wav", ".mp3"}
    assert all(len(c.video_id) == 11 for c in clips)
    import soundfile as sf

    for clip in clips[:4]:
        info = sf.info(clip.path)
        assert info.samplerate == 16000 and SMALL["min_seconds"] - 0.1 <= info.duration <= SMALL["max_seconds"] + 0.2


def test_photos_are_larger_than_the_face_and_the_face_is_not_centred(small_raw):
    photos = [p for group in layouts.scan_vggface2(small_raw / "vggface2").photos.values() for p in group]
    offsets = []
    for photo in photos:
        width, height = Image.open(photo.path).size
        x, y, w, h = photo.box
        assert w < width and h < height
        offsets.append(abs((x + w / 2) / width - 0.5))
    assert max(offsets) > 0.1


def test_nine_identities_are_the_papers_nine():
    people = synth_identities(SynthConfig())
    assert [p.voice_id for p in people[:9]] == layouts.PRESETS["agarwal9"]
    assert all(int(p.voice_id[2:]) != int(p.face_id[1:]) for p in people[1:])


def test_it_refuses_to_write_into_a_non_empty_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        write_synth(tmp_path, SynthConfig(**SMALL))
    assert (tmp_path / "keep.txt").read_text() == "mine"
