"""How the real-layout readers see VoxCeleb1/2 and VGGFace1/2 trees, and how identities are chosen.

Every test builds a tiny tree in ``tmp_path``. Audio and image files are empty placeholders:
the readers only locate files, they never decode them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from v2f_bench.data.layouts import (
    AUDIO_EXTENSIONS,
    IMAGE_EXTENSIONS,
    PRESETS,
    meta_ids_not_on_disk,
    parse_identity_spec,
    read_iden_split,
    read_vggface2_identity_meta,
    read_vox1_meta,
    read_vox2_meta,
    scan_vggface1,
    scan_vggface2,
    scan_voxceleb1,
    scan_voxceleb2,
    select_identities,
)
from v2f_bench.data.records import Clip, FaceCorpus, Identity, Photo, Skipped, VoiceCorpus
from v2f_bench.errors import UserError

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

VOX1_HEADER = "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"
VOX2_HEADER = "\ufeffVoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \n"
BB_HEADER = "NAME_ID,X,Y,W,H\n"
LANDMARK_HEADER = "NAME_ID,P1X,P1Y,P2X,P2Y,P3X,P3Y,P4X,P4Y,P5X,P5Y\n"


def write(path: Path, text: str = "") -> Path:
    """Create ``path`` (and its folders) holding ``text``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def touch(root: Path, *rels: str) -> None:
    """Create empty placeholder files at ``rels`` under ``root``."""
    for rel in rels:
        write(root / rel)


def vox2_meta(*rows: str) -> str:
    """A vox2_meta.csv body in the real file's style: BOM, and a space after every value."""
    return VOX2_HEADER + "".join(" ,".join(row.split(",")) + " \n" for row in rows)


def assert_one_line_error(excinfo: pytest.ExceptionInfo[UserError], path: Path) -> None:
    """The CLI prints a UserError as one line, so it must be one line and name the file."""
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message


# --------------------------------------------------------------------------------------------
# VoxCeleb meta files


def test_vox2_meta_strips_bom_and_trailing_spaces(tmp_path):
    meta = write(tmp_path / "vox2_meta.csv", vox2_meta("id00012,n000012,m,dev", "id00017,n000017,f,test"))
    identities, skipped = read_vox2_meta(meta)
    assert identities == {
        "id00012": Identity("id00012", "n000012", "m"),
        "id00017": Identity("id00017", "n000017", "f"),
    }
    assert skipped == []


def test_vox2_face_id_is_taken_from_the_file_not_the_voice_number(tmp_path):
    meta = write(tmp_path / "vox2_meta.csv", vox2_meta("id03258,n003257,m,dev"))
    identities, _ = read_vox2_meta(meta)
    assert identities["id03258"].face_id == "n003257"


def test_vox1_meta_is_tab_separated_and_joins_to_vggface1_names(tmp_path):
    meta = write(tmp_path / "vox1_meta.csv", VOX1_HEADER + "id10001\tA.J._Buckley\tm\tIreland\tdev\n\n")
    identities, skipped = read_vox1_meta(meta)
    assert identities == {"id10001": Identity("id10001", "A.J._Buckley", "m")}
    assert skipped == []


@pytest.mark.parametrize(
    "row, reason_part",
    [
        pytest.param("id00013,n000013,m", "expected 4 comma-separated fields, found 3", id="too-few-fields"),
        pytest.param("id00013,n000013,m,dev,extra", "found 5", id="too-many-fields"),
        pytest.param("x00013,n000013,m,dev", "voice id 'x00013'", id="bad-voice-id"),
        pytest.param("id0013,n000013,m,dev", "voice id 'id0013'", id="short-voice-id"),
        pytest.param("id00013,13,m,dev", "face id '13'", id="bad-face-id"),
        pytest.param("id00012,n000099,m,dev", "repeats an earlier row", id="repeated-voice-id"),
        pytest.param(
            "id00013,n000012,m,dev", "face id n000012 is already joined to voice id id00012", id="repeated-face-id"
        ),
    ],
)
def test_malformed_vox2_rows_are_skipped_with_file_and_line(tmp_path, row, reason_part):
    meta = write(tmp_path / "vox2_meta.csv", vox2_meta("id00012,n000012,m,dev") + row + "\n")
    identities, skipped = read_vox2_meta(meta)
    assert list(identities) == ["id00012"]
    assert identities["id00012"].face_id == "n000012"
    assert len(skipped) == 1
    assert skipped[0].kind == "meta"
    assert skipped[0].item == "vox2_meta.csv:3"
    assert reason_part in skipped[0].reason


def test_malformed_vox1_row_is_skipped(tmp_path):
    meta = write(tmp_path / "vox1_meta.csv", VOX1_HEADER + "id10001,A.J._Buckley,m,Ireland,dev\n")
    identities, skipped = read_vox1_meta(meta)
    assert identities == {}
    assert skipped == [Skipped("meta", "vox1_meta.csv:2", "expected 5 tab-separated fields, found 1")]


@pytest.mark.parametrize(
    "reader, content, message_part",
    [
        pytest.param(read_vox1_meta, b"", "empty", id="vox1-empty"),
        pytest.param(read_vox1_meta, b"\n  \n", "empty", id="vox1-blank-lines"),
        pytest.param(read_vox1_meta, b"\xff\xfe\x00binary", "not UTF-8", id="vox1-binary"),
        pytest.param(
            read_vox1_meta,
            b"VoxCeleb1 ID,VGGFace1 ID,Gender,Nationality,Set\nid10001,A.J._Buckley,m,Ireland,dev\n",
            "tab-separated header",
            id="vox1-given-comma-separated",
        ),
        pytest.param(read_vox1_meta, VOX2_HEADER.encode(), "VoxCeleb1 ID", id="vox1-given-vox2-file"),
        pytest.param(read_vox2_meta, b"", "empty", id="vox2-empty"),
        pytest.param(read_vox2_meta, VOX1_HEADER.encode(), "comma-separated header", id="vox2-given-vox1-file"),
        pytest.param(read_vox2_meta, b"id00012,n000012,m,dev\n", "VoxCeleb2 ID", id="vox2-missing-header"),
    ],
)
def test_a_meta_file_in_the_wrong_format_is_a_one_line_user_error(tmp_path, reader, content, message_part):
    meta = tmp_path / "meta.csv"
    meta.write_bytes(content)
    with pytest.raises(UserError, match=message_part) as excinfo:
        reader(meta)
    assert_one_line_error(excinfo, meta)


def test_a_missing_meta_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found") as excinfo:
        read_vox2_meta(tmp_path / "nowhere.csv")
    assert_one_line_error(excinfo, tmp_path / "nowhere.csv")


def test_iden_split_maps_each_clip_to_its_set(tmp_path):
    split = write(tmp_path / "iden_split.txt", "1 id10001/1zcIwhmdeo4/00001.wav\n3 id10002/abc/00002.wav\n")
    assert read_iden_split(split) == {"id10001/1zcIwhmdeo4/00001.wav": 1, "id10002/abc/00002.wav": 3}


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("", id="empty"),
        pytest.param("4 id10001/yt/00001.wav\n", id="unknown-set"),
        pytest.param("id10001/yt/00001.wav\n", id="no-set-number"),
        pytest.param("1 id10001/00001.wav\n", id="no-video-folder"),
    ],
)
def test_a_malformed_iden_split_is_a_user_error(tmp_path, content):
    split = write(tmp_path / "iden_split.txt", content)
    with pytest.raises(UserError) as excinfo:
        read_iden_split(split)
    assert_one_line_error(excinfo, split)


# --------------------------------------------------------------------------------------------
# VoxCeleb audio trees


@pytest.fixture
def vox1_root(tmp_path):
    """One known speaker with three clips in two videos, a stray text file, and an unknown speaker."""
    root = tmp_path / "vox1"
    write(root / "vox1_meta.csv", VOX1_HEADER + "id10001\tA.J._Buckley\tm\tIreland\tdev\n")
    touch(
        root,
        "wav/id10001/yt_b/00001.wav",
        "wav/id10001/yt_a/00002.wav",
        "wav/id10001/yt_a/00001.wav",
        "wav/id10001/yt_a/notes.txt",
        "wav/id10001/yt_a/.DS_Store",
        "wav/id19999/yt/00001.wav",
    )
    return root


def test_voxceleb1_clips_are_sorted_by_path_relative_to_root(vox1_root):
    corpus = scan_voxceleb1(vox1_root)
    assert corpus.meta_file == vox1_root / "vox1_meta.csv"
    assert [c.rel for c in corpus.clips["id10001"]] == [
        "wav/id10001/yt_a/00001.wav",
        "wav/id10001/yt_a/00002.wav",
        "wav/id10001/yt_b/00001.wav",
    ]
    first = corpus.clips["id10001"][0]
    assert first == Clip("id10001", vox1_root / "wav/id10001/yt_a/00001.wav", "yt_a", "wav/id10001/yt_a/00001.wav")


def test_voxceleb1_skips_other_extensions_and_speakers_missing_from_meta(vox1_root):
    corpus = scan_voxceleb1(vox1_root)
    assert "id19999" not in corpus.clips
    assert [(s.kind, s.item) for s in corpus.skipped] == [
        ("clip", "wav/id10001/yt_a/notes.txt"),
        ("identity", "id19999"),
        ("clip", "wav/id19999/yt/00001.wav"),
    ], "hidden files such as .DS_Store are ignored silently"
    notes, speaker, clip = corpus.skipped
    assert "'.txt'" in notes.reason
    assert speaker.reason == "folder wav/id19999 has no row in vox1_meta.csv"
    assert clip.reason == "in folder wav/id19999, which has no row in vox1_meta.csv"


def test_voxceleb1_meta_file_can_live_elsewhere(vox1_root, tmp_path):
    moved = (vox1_root / "vox1_meta.csv").rename(tmp_path / "my_meta.tsv")
    assert scan_voxceleb1(vox1_root, meta_file=moved).meta_file == moved


@pytest.mark.parametrize(
    "remove, message_part",
    [
        pytest.param("", "root folder not found", id="missing-root"),
        pytest.param("vox1_meta.csv", "meta file not found", id="missing-meta"),
        pytest.param("wav", "audio folder not found", id="missing-wav-folder"),
    ],
)
def test_voxceleb1_missing_pieces_are_user_errors(vox1_root, tmp_path, remove, message_part):
    root = vox1_root if remove else tmp_path / "elsewhere"
    if remove == "wav":
        (vox1_root / "wav").rename(vox1_root / "audio")
    elif remove:
        (vox1_root / remove).unlink()
    with pytest.raises(UserError, match=message_part) as excinfo:
        scan_voxceleb1(root)
    assert "\n" not in str(excinfo.value)


@pytest.fixture
def vox2_root(tmp_path):
    """A dev speaker with clips in three audio formats and one .aac file, and a test speaker."""
    root = tmp_path / "vox2"
    write(root / "vox2_meta.csv", vox2_meta("id00012,n000012,m,dev", "id00017,n000017,f,test"))
    touch(
        root,
        "dev/aac/id00012/yt/00001.m4a",
        "dev/aac/id00012/yt/00002.flac",
        "dev/aac/id00012/yt/00003.M4A",
        "dev/aac/id00012/yt/00004.aac",
        "test/aac/id00017/yt/00001.wav",
    )
    return root


def test_voxceleb2_reads_dev_and_test_and_every_audio_extension(vox2_root):
    corpus = scan_voxceleb2(vox2_root)
    assert [c.rel for c in corpus.clips["id00012"]] == [
        "dev/aac/id00012/yt/00001.m4a",
        "dev/aac/id00012/yt/00002.flac",
        "dev/aac/id00012/yt/00003.M4A",
    ]
    assert [c.rel for c in corpus.clips["id00017"]] == ["test/aac/id00017/yt/00001.wav"]
    assert corpus.skipped == [
        Skipped(
            "clip",
            "dev/aac/id00012/yt/00004.aac",
            f"unsupported extension '.aac' (expected one of {', '.join(AUDIO_EXTENSIONS)})",
        )
    ]


def test_voxceleb2_only_limits_the_scan_to_those_speaker_folders(vox2_root):
    corpus = scan_voxceleb2(vox2_root, only={"id00017", "id09999"})
    assert list(corpus.clips) == ["id00017"]
    assert set(corpus.identities) == {"id00012", "id00017"}, "the meta join is always complete"


def test_voxceleb2_subsets_choose_the_folders_and_an_absent_one_is_fine(vox2_root):
    assert list(scan_voxceleb2(vox2_root, subsets=("test",)).clips) == ["id00017"]
    (vox2_root / "test").rename(vox2_root / "not_test")
    assert list(scan_voxceleb2(vox2_root).clips) == ["id00012"]


def test_voxceleb2_without_any_subset_folder_is_a_user_error(vox2_root):
    with pytest.raises(UserError, match="expected train/aac or val/aac") as excinfo:
        scan_voxceleb2(vox2_root, subsets=("train", "val"))
    assert_one_line_error(excinfo, vox2_root)


def test_voxceleb2_files_inside_skipped_folders_are_listed_one_by_one(vox2_root):
    touch(vox2_root, "dev/aac/speakers/yt/00001.m4a", "dev/aac/speakers/yt/00002.m4a", "dev/aac/id00012/yt/more/00009.m4a")
    skipped = scan_voxceleb2(vox2_root).skipped
    reason = "folder name is not a VoxCeleb id like id00012"
    assert Skipped("identity", "dev/aac/speakers", reason) in skipped
    for clip in ("00001.m4a", "00002.m4a"):
        assert Skipped("clip", f"dev/aac/speakers/yt/{clip}", f"in folder dev/aac/speakers: {reason}") in skipped
    assert Skipped("clip", "dev/aac/id00012/yt/more", "unexpected folder inside a video folder") in skipped
    assert Skipped(
        "clip", "dev/aac/id00012/yt/more/00009.m4a", "in dev/aac/id00012/yt/more, an unexpected folder inside a video folder"
    ) in skipped


def test_voxceleb2_odd_entries_in_the_audio_folder_are_skipped(vox2_root):
    touch(vox2_root, "dev/aac/readme.txt", "dev/aac/speakers/yt/00001.m4a", "dev/aac/id00012/loose.m4a")
    skipped = {(s.kind, s.item) for s in scan_voxceleb2(vox2_root).skipped}
    assert ("clip", "dev/aac/readme.txt") in skipped
    assert ("identity", "dev/aac/speakers") in skipped
    assert ("clip", "dev/aac/id00012/loose.m4a") in skipped


# --------------------------------------------------------------------------------------------
# VGGFace2


@pytest.fixture
def vgg2_root(tmp_path):
    """Two classes; one photo has a box and landmarks, two box rows are malformed, one file is a .gif."""
    root = tmp_path / "vggface2"
    touch(
        root,
        "train/n000001/0002_01.jpg",
        "train/n000001/0001_01.jpg",
        "train/n000001/0003_01.png",
        "train/n000001/0004_01.gif",
        "train/n000002/0001_01.jpg",
    )
    write(
        root / "bb_landmark/loose_bb_train.csv",
        BB_HEADER + '"n000001/0001_01",10,20,30,40\nn000001/0002_01,1,2,x,4\nn000002/0001_01,5,6,7\n',
    )
    write(
        root / "bb_landmark/loose_landmark_train.csv",
        LANDMARK_HEADER + "n000001/0001_01," + ",".join(str(v) for v in range(1, 11)) + "\n",
    )
    return root


def test_vggface2_photos_carry_box_and_landmarks_from_the_csv_files(vgg2_root):
    corpus = scan_vggface2(vgg2_root)
    first = corpus.photos["n000001"][0]
    assert first == Photo(
        face_id="n000001",
        path=vgg2_root / "train/n000001/0001_01.jpg",
        rel="train/n000001/0001_01.jpg",
        box=(10.0, 20.0, 30.0, 40.0),
        landmarks=((1.0, 2.0), (3.0, 4.0), (5.0, 6.0), (7.0, 8.0), (9.0, 10.0)),
    )


def test_vggface2_photos_without_rows_get_none(vgg2_root):
    corpus = scan_vggface2(vgg2_root)
    assert [p.rel for p in corpus.photos["n000001"]] == [
        "train/n000001/0001_01.jpg",
        "train/n000001/0002_01.jpg",
        "train/n000001/0003_01.png",
    ]
    assert all(p.box is None and p.landmarks is None for p in corpus.photos["n000001"][1:])
    assert corpus.photos["n000002"][0].box is None


def test_vggface2_skips_malformed_rows_and_other_extensions(vgg2_root):
    skipped = scan_vggface2(vgg2_root).skipped
    assert Skipped("meta", "loose_bb_train.csv:3", "non-numeric value 'x'") in skipped
    assert Skipped("meta", "loose_bb_train.csv:4", "expected 5 fields, found 4") in skipped
    photo_skip = next(s for s in skipped if s.kind == "photo")
    assert photo_skip.item == "train/n000001/0004_01.gif"
    assert "'.gif'" in photo_skip.reason
    assert all(ext in photo_skip.reason for ext in IMAGE_EXTENSIONS)


def test_vggface2_only_limits_folders_and_rows(vgg2_root):
    corpus = scan_vggface2(vgg2_root, only={"n000002"})
    assert list(corpus.photos) == ["n000002"]
    assert [s.item for s in corpus.skipped] == ["loose_bb_train.csv:4"], "rows of other classes are not parsed"


def test_vggface2_rows_of_classes_not_on_disk_are_not_parsed(vgg2_root):
    with (vgg2_root / "bb_landmark/loose_bb_train.csv").open("a") as handle:
        handle.write("n000999/0001_01,not,even,numbers\n")
    skipped = scan_vggface2(vgg2_root).skipped
    assert not any(s.item == "loose_bb_train.csv:5" for s in skipped)


def test_vggface2_box_and_landmark_files_are_optional(vgg2_root):
    for name in ("loose_bb_train.csv", "loose_landmark_train.csv"):
        (vgg2_root / "bb_landmark" / name).unlink()
    corpus = scan_vggface2(vgg2_root)
    assert sum(len(p) for p in corpus.photos.values()) == 4
    assert all(p.box is None for p in corpus.photos["n000001"])


@pytest.mark.parametrize(
    "name, header",
    [
        pytest.param("loose_bb_train.csv", "NAME_ID;X;Y;W;H\n", id="box-semicolons"),
        pytest.param("loose_bb_train.csv", LANDMARK_HEADER, id="box-given-landmarks"),
        pytest.param("loose_landmark_train.csv", BB_HEADER, id="landmarks-given-boxes"),
        pytest.param("loose_landmark_train.csv", "", id="landmarks-empty"),
    ],
)
def test_vggface2_csv_with_wrong_header_is_a_user_error(vgg2_root, name, header):
    path = write(vgg2_root / "bb_landmark" / name, header)
    with pytest.raises(UserError, match="NAME_ID") as excinfo:
        scan_vggface2(vgg2_root)
    assert_one_line_error(excinfo, path)


def test_vggface2_identity_meta_handles_leading_spaces_and_quoted_commas(tmp_path):
    meta = write(
        tmp_path / "identity_meta.csv",
        'Class_ID, Name, Sample_Num, Flag, Gender\n'
        'n000001, "14th_Dalai_Lama", 424, 0, m\n'
        'n000002, "Smith, Jr., Will", 315, 1, m\n'
        'n000003, "Broken", many, 1, f\n',
    )
    assert read_vggface2_identity_meta(meta) == {
        "n000001": ("14th_Dalai_Lama", "m"),
        "n000002": ("Smith, Jr., Will", "m"),
    }


def test_vggface2_identity_meta_when_present_filters_class_folders(vgg2_root):
    write(vgg2_root / "identity_meta.csv", 'Class_ID, Name, Sample_Num, Flag, Gender\nn000001, "A", 4, 1, f\n')
    corpus = scan_vggface2(vgg2_root)
    assert list(corpus.photos) == ["n000001"]
    assert Skipped("identity", "n000002", "class folder has no row in identity_meta.csv") in corpus.skipped


def test_vggface2_photos_in_a_class_folder_without_identity_meta_row_are_each_listed(vgg2_root):
    write(vgg2_root / "identity_meta.csv", 'Class_ID, Name, Sample_Num, Flag, Gender\nn000001, "A", 4, 1, f\n')
    reason = "in class folder train/n000002, which has no row in identity_meta.csv"
    assert Skipped("photo", "train/n000002/0001_01.jpg", reason) in scan_vggface2(vgg2_root).skipped


def test_vggface2_reads_the_test_half_with_its_own_box_file(vgg2_root):
    touch(vgg2_root, "test/n000003/0001_01.jpg", "test/n000003/0002_01.jpg")
    write(vgg2_root / "bb_landmark/loose_bb_test.csv", BB_HEADER + "n000003/0002_01,1,2,3,4\n")
    corpus = scan_vggface2(vgg2_root)
    assert [p.rel for p in corpus.photos["n000003"]] == ["test/n000003/0001_01.jpg", "test/n000003/0002_01.jpg"]
    assert [p.box for p in corpus.photos["n000003"]] == [None, (1.0, 2.0, 3.0, 4.0)]
    assert list(scan_vggface2(vgg2_root, subsets=("train",)).photos) == ["n000001", "n000002"]


def test_vggface2_a_folder_inside_a_class_folder_is_skipped_with_its_files(vgg2_root):
    touch(vgg2_root, "train/n000001/extra/0009_01.jpg")
    skipped = scan_vggface2(vgg2_root).skipped
    assert Skipped("photo", "train/n000001/extra", "unexpected folder inside a class folder") in skipped
    assert Skipped(
        "photo", "train/n000001/extra/0009_01.jpg", "in train/n000001/extra, an unexpected folder inside a class folder"
    ) in skipped


def test_vggface2_missing_subset_is_a_user_error(vgg2_root):
    with pytest.raises(UserError, match="test folder not found"):
        scan_vggface2(vgg2_root, subsets=("test",))


# --------------------------------------------------------------------------------------------
# VGGFace1


@pytest.fixture
def vgg1_root(tmp_path):
    """Two names. A.J._Buckley: of four lines, one photo downloaded, one not, two lines broken; 99.jpg unlisted."""
    root = tmp_path / "vggface1"
    write(
        root / "files/A.J._Buckley.txt",
        "1 http://a/1.jpg 165.21 105.50 298.57 238.86 1.00 3.29 1\n"
        "2 http://a/2.jpg 10 20 110 220 1.00 3.29 0\n"
        "3 http://a/3.jpg 10 20 left 220 1.00 3.29 1\n"
        "4 http://a/4.jpg 10 20\n",
    )
    write(root / "files/Aamir_Khan.txt", "7 http://b/7.jpg 0 0 50 60 1 2 1\n")
    touch(root, "images/A.J._Buckley/1.jpg", "images/A.J._Buckley/99.jpg", "images/Aamir_Khan/7.png")
    return root


def test_vggface1_box_is_converted_to_x_y_width_height(vgg1_root):
    corpus = scan_vggface1(vgg1_root)
    (photo,) = corpus.photos["A.J._Buckley"]
    assert photo.rel == "images/A.J._Buckley/1.jpg"
    assert photo.box == pytest.approx((165.21, 105.50, 298.57 - 165.21, 238.86 - 105.50))
    assert photo.landmarks is None
    assert corpus.photos["Aamir_Khan"][0].rel == "images/Aamir_Khan/7.png"


def test_vggface1_reports_undownloaded_malformed_and_unlisted_photos(vgg1_root):
    skipped = scan_vggface1(vgg1_root).skipped
    assert Skipped(
        "photo", "images/A.J._Buckley/2.jpg", "listed in files/A.J._Buckley.txt but not downloaded"
    ) in skipped
    assert Skipped("meta", "files/A.J._Buckley.txt:3", "non-numeric value 'left'") in skipped
    assert Skipped("meta", "files/A.J._Buckley.txt:4", "expected 9 space-separated fields, found 4") in skipped
    assert Skipped("photo", "images/A.J._Buckley/99.jpg", "not listed in files/A.J._Buckley.txt") in skipped
    assert len(skipped) == 4


@pytest.mark.parametrize("only", [pytest.param(None, id="all"), pytest.param({"Bob_Unlisted"}, id="only")])
def test_vggface1_photos_in_a_folder_without_a_listing_are_skipped_one_by_one(vgg1_root, only):
    touch(vgg1_root, "images/Bob_Unlisted/1.jpg", "images/Bob_Unlisted/2.jpg")
    corpus = scan_vggface1(vgg1_root, only=only)
    assert "Bob_Unlisted" not in corpus.photos
    assert Skipped("identity", "Bob_Unlisted", "folder images/Bob_Unlisted has no listing files/Bob_Unlisted.txt") in corpus.skipped
    for name in ("1.jpg", "2.jpg"):
        reason = "in folder images/Bob_Unlisted, which has no listing files/Bob_Unlisted.txt"
        assert Skipped("photo", f"images/Bob_Unlisted/{name}", reason) in corpus.skipped


def test_vggface1_stray_files_and_folders_among_the_photos_are_skipped(vgg1_root):
    touch(vgg1_root, "images/readme.txt", "images/Aamir_Khan/old/7.png")
    skipped = scan_vggface1(vgg1_root).skipped
    assert Skipped("photo", "images/readme.txt", "file outside any identity folder") in skipped
    assert Skipped("photo", "images/Aamir_Khan/old", "unexpected folder inside an image folder") in skipped
    assert Skipped(
        "photo", "images/Aamir_Khan/old/7.png", "in images/Aamir_Khan/old, an unexpected folder inside an image folder"
    ) in skipped


def test_vggface1_a_listing_without_an_image_folder_is_not_read(vgg1_root):
    """Most of the 2,622 listings have nothing downloaded: a skip per listed URL would bury the real ones."""
    write(vgg1_root / "files/Zed_Nobody.txt", "1 http://z/1.jpg 0 0 50 60 1 2 1\nnot even a line\n")
    corpus = scan_vggface1(vgg1_root)
    assert "Zed_Nobody" not in corpus.photos
    assert not any("Zed_Nobody" in s.item for s in corpus.skipped)


def test_vggface1_only_limits_the_listings_read(vgg1_root):
    corpus = scan_vggface1(vgg1_root, only={"Aamir_Khan"})
    assert list(corpus.photos) == ["Aamir_Khan"]
    assert corpus.skipped == []


# --------------------------------------------------------------------------------------------
# Presets and identity specs


@pytest.mark.parametrize(
    "spec, expected",
    [
        pytest.param("agarwal9", PRESETS["agarwal9"], id="preset"),
        pytest.param(" agarwal9 ", PRESETS["agarwal9"], id="preset-with-spaces"),
        pytest.param("id00234", ["id00234"], id="single-id"),
        pytest.param("id00234, id03258,", ["id00234", "id03258"], id="list-with-spaces-and-trailing-comma"),
        pytest.param("id03258,id00234,id03258", ["id03258", "id00234"], id="repeats-kept-once-in-order"),
    ],
)
def test_identity_spec_accepts_presets_and_voice_id_lists(spec, expected):
    assert parse_identity_spec(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("", id="empty"),
        pytest.param("agarwal", id="unknown-preset"),
        pytest.param("n000234", id="face-id"),
        pytest.param("id00234;id03258", id="wrong-separator"),
    ],
)
def test_identity_spec_rejects_anything_else_and_lists_the_presets(spec):
    with pytest.raises(UserError, match="agarwal9") as excinfo:
        parse_identity_spec(spec)
    assert "\n" not in str(excinfo.value)


def test_agarwal9_preset_is_the_authors_nine_voxceleb2_ids():
    assert PRESETS["agarwal9"] == [
        "id00234", "id03258", "id04064", "id04517", "id04606", "id05054", "id06415", "id06553", "id08599",
    ]


# --------------------------------------------------------------------------------------------
# Choosing identities


def corpora(clip_counts: dict[str, int], photo_counts: dict[str, int], meta_only: tuple[str, ...] = ()):
    """A voice and a face corpus where voice ``idNNNNN`` joins to face ``fNNNNN``."""
    ids = sorted(set(clip_counts) | set(meta_only))
    identities = {v: Identity(v, "f" + v[2:], "m") for v in ids}
    clips = {
        v: [Clip(v, Path(f"{v}/yt/{k}.wav"), "yt", f"{v}/yt/{k}.wav") for k in range(n)]
        for v, n in clip_counts.items()
        if n
    }
    photos = {
        f: [Photo(f, Path(f"{f}/{k}.jpg"), f"{f}/{k}.jpg") for k in range(n)] for f, n in photo_counts.items() if n
    }
    voices = VoiceCorpus(Path("vox"), Path("vox/vox2_meta.csv"), identities, clips)
    return voices, FaceCorpus(Path("faces"), photos)


@pytest.mark.parametrize(
    "wanted_id, clip_counts, photo_counts, reason",
    [
        pytest.param("id00009", {}, {}, "not in vox2_meta.csv", id="not-in-meta"),
        pytest.param("id00001", {"id00001": 0}, {"f00001": 5}, "no clips on disk under vox", id="no-clips"),
        pytest.param(
            "id00001", {"id00001": 5}, {}, "face id f00001 has no photos on disk under faces", id="no-photos"
        ),
        pytest.param(
            "id00001", {"id00001": 1}, {"f00001": 5}, "1 clips, fewer than min_clips=2", id="too-few-clips"
        ),
        pytest.param(
            "id00001",
            {"id00001": 5},
            {"f00001": 1},
            "face id f00001 has 1 photos, fewer than min_photos=2",
            id="too-few-photos",
        ),
        pytest.param(
            "id00001",
            {"id00001": 1},
            {"f00001": 1},
            "1 clips, fewer than min_clips=2; face id f00001 has 1 photos, fewer than min_photos=2",
            id="both-short",
        ),
    ],
)
def test_a_wanted_identity_without_enough_data_is_skipped_with_the_reason(
    wanted_id, clip_counts, photo_counts, reason
):
    voices, faces = corpora({"id00002": 3, **clip_counts}, {"f00002": 3, **photo_counts}, meta_only=("id00001",))
    chosen, skipped = select_identities(voices, faces, ["id00002", wanted_id])
    assert [i.voice_id for i in chosen] == ["id00002"]
    assert skipped[0] == Skipped("identity", wanted_id, reason)
    files = [f.rel for f in voices.clips.get(wanted_id, []) + faces.photos.get("f" + wanted_id[2:], [])]
    assert [s.item for s in skipped[1:]] == files, "each of its files on disk is listed after it"
    assert {s.reason for s in skipped[1:]} <= {f"identity {wanted_id} is skipped: {reason}"}


def test_wanted_identities_come_back_sorted_by_voice_id():
    voices, faces = corpora({"id00003": 2, "id00001": 2}, {"f00003": 2, "f00001": 2})
    chosen, skipped = select_identities(voices, faces, ["id00003", "id00001"])
    assert chosen == [Identity("id00001", "f00001", "m"), Identity("id00003", "f00003", "m")]
    assert skipped == []


def test_without_wanted_the_candidates_are_the_voices_with_clips_on_disk():
    voices, faces = corpora(
        {"id00001": 3, "id00002": 1, "id00003": 4},
        {"f00001": 2, "f00002": 2},
        meta_only=("id00008", "id00009"),
    )
    chosen, skipped = select_identities(voices, faces, None)
    assert [i.voice_id for i in chosen] == ["id00001"]
    assert [s.item for s in skipped if s.kind == "identity"] == ["id00002", "id00003"], "meta rows with nothing on disk are not listed"
    assert len(meta_ids_not_on_disk(voices, faces)) == 2, "they are counted instead"
    assert sorted(s.item for s in skipped if s.kind != "identity") == sorted(
        [f"id00002/yt/{k}.wav" for k in range(1)] + [f"f00002/{k}.jpg" for k in range(2)] + [f"id00003/yt/{k}.wav" for k in range(4)]
    ), "the files of the skipped identities are listed one by one"


def test_without_wanted_a_face_without_a_voice_and_a_face_outside_the_meta_file_are_skipped_with_their_photos():
    voices, faces = corpora({"id00001": 3}, {"f00001": 2, "f00005": 3, "f00007": 2}, meta_only=("id00005",))
    chosen, skipped = select_identities(voices, faces, None)
    assert [i.voice_id for i in chosen] == ["id00001"]
    no_voice = "no clips on disk under vox"
    outside = "face id that no row of vox2_meta.csv names: it joins no voice"
    assert skipped == [
        Skipped("identity", "id00005", no_voice),
        *(Skipped("photo", f"f00005/{k}.jpg", f"identity id00005 is skipped: {no_voice}") for k in range(3)),
        Skipped("identity", "f00007", outside),
        *(Skipped("photo", f"f00007/{k}.jpg", "its face id f00007 is in no row of vox2_meta.csv: it joins no voice") for k in range(2)),
    ]
    assert meta_ids_not_on_disk(voices, faces) == [], "id00005 has photos on disk, so it is skipped, not absent"


def test_with_wanted_files_of_identities_not_asked_for_are_listed():
    voices, faces = corpora({"id00001": 2, "id00002": 2}, {"f00001": 2, "f00002": 2, "f00003": 1}, meta_only=("id00003",))
    chosen, skipped = select_identities(voices, faces, ["id00001"])
    assert [i.voice_id for i in chosen] == ["id00001"]
    assert [(s.kind, s.item) for s in skipped] == [
        ("identity", "id00002"), ("clip", "id00002/yt/0.wav"), ("clip", "id00002/yt/1.wav"),
        ("photo", "f00002/0.jpg"), ("photo", "f00002/1.jpg"),
        ("identity", "f00003"), ("photo", "f00003/0.jpg"),
    ]
    assert skipped[0].reason == "not among the identities asked for"


@pytest.mark.parametrize(
    "wanted",
    [pytest.param(None, id="paper-rule"), pytest.param(["id00001", "id00002", "id00003", "id00004"], id="wanted")],
)
def test_max_identities_keeps_those_with_most_clips_ties_by_id(wanted):
    voices, faces = corpora(
        {"id00001": 3, "id00002": 5, "id00003": 3, "id00004": 4},
        {f"f0000{k}": 2 for k in range(1, 5)},
    )
    chosen, skipped = select_identities(voices, faces, wanted, max_identities=3)
    assert [i.voice_id for i in chosen] == ["id00001", "id00002", "id00004"]
    reason = "3 clips: not among the 3 with most clips"
    because = f"identity id00003 is skipped: {reason}"
    assert skipped == [
        Skipped("identity", "id00003", reason),
        *(Skipped("clip", f"id00003/yt/{k}.wav", because) for k in range(3)),
        *(Skipped("photo", f"f00003/{k}.jpg", because) for k in range(2)),
    ]


def test_minimums_are_configurable():
    voices, faces = corpora({"id00001": 1}, {"f00001": 1})
    chosen, _ = select_identities(voices, faces, None, min_clips=1, min_photos=1)
    assert [i.voice_id for i in chosen] == ["id00001"]


# --------------------------------------------------------------------------------------------
# The real meta files


@pytest.fixture
def shared_data():
    """The project's copy of the real meta files, or a skip where this checkout has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    return SHARED_DATA


def test_real_vox2_meta_parses_and_joins_the_agarwal9_ids(shared_data):
    identities, skipped = read_vox2_meta(shared_data / "vox2_meta.csv")
    assert (len(identities), skipped) == (6114, [])
    assert set(PRESETS["agarwal9"]) <= set(identities)
    assert identities["id03258"].face_id == "n003257"
    assert identities["id00234"].face_id == "n000234"


def test_real_vox1_meta_parses(shared_data):
    identities, skipped = read_vox1_meta(shared_data / "vox1_meta.csv")
    assert (len(identities), skipped) == (1251, [])
    assert identities["id10001"] == Identity("id10001", "A.J._Buckley", "m")
